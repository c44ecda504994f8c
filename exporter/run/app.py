"""Runs the exporter: the poll loop, the HTTP server, signals and config reloads."""

from __future__ import annotations

import hashlib
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from anyio.abc import TaskGroup

from ..books.shard import Shard
from ..books.storage import Storage
from ..clock import SYSTEM_CLOCK, Clock
from ..config.errors import ConfigError
from ..config.loader import Config, load_config, render_config
from ..config.localfile import FileRefused, file_version
from ..exposition.store import ExpositionStore
from ..http.server import Listener, ServingLimits, make_app, serve
from ..http.webconfig import WebConfigFile
from ..telemetry import Telemetry
from .fleet import Fleet
from .publication import PUBLISH_EVERY

log = logging.getLogger("campaign_exporter")


@dataclass(frozen=True)
class RunOptions:
    listeners: tuple[Listener, ...] = (":10123",)
    config_file: Path | None = None
    on_listening: Callable[[list[str]], None] | None = None
    handle_signals: bool = True
    web_config: WebConfigFile | None = None
    shard: Shard = field(default_factory=Shard)
    limits: ServingLimits = field(default_factory=ServingLimits)
    telemetry_path: str = "/metrics"
    process_metrics: bool = True  # the process_* and python_gc_* families
    clock: Clock = SYSTEM_CLOCK  # the time of every part: polls, books, client, telemetry
    # Publications are coalesced to at most one per this many seconds (tests shorten it).
    publish_every: float = PUBLISH_EVERY
    # Called with the exporter's telemetry before it listens (tests wait on its
    # publications instead of scraping).
    on_started: Callable[[Telemetry], None] | None = None
    storage_path: Path | None = None  # the books persist in this directory
    storage_max_age: float | None = None  # seconds; None: each source's retention
    # Seconds between looks at whether the config file changed (0: only SIGHUP and
    # POST /-/reload reload it).
    config_watch_every: float = 1.0


# A changed config file is reloaded once it has looked the same for this long: an editor
# or kubelet writing it in steps is read when done, not halfway.
SETTLE = 1.0


def config_hash(config: Config) -> str:
    """The SHA-256 of the config as ``--config.print`` shows it (defaults filled in,
    secrets left out), so ``campaign-exporter --config.print | sha256sum`` gives the same."""
    return hashlib.sha256(render_config(config).encode()).hexdigest()


Stamp = tuple[int, ...] | None


def _stamp(path: Path) -> Stamp:
    """``localfile.file_version``, None where the file cannot be stat'ed: a Kubernetes
    ``..data`` symlink swap shows as another file (stat follows the links)."""
    try:
        return file_version(path)
    except FileRefused:
        return None


class ConfigWatch:
    """Whether the config file has changed since it was last read, and has settled."""

    def __init__(self, path: Path, settle: float = SETTLE) -> None:
        self.path = path
        self.settle = settle
        self.read = self.seen = _stamp(path)
        self.seen_at: float | None = None

    def reading(self) -> None:
        """The file is being read now (by any reload): its changes so far are in."""
        self.read, self.seen_at = _stamp(self.path), None

    def due(self, stamp: Stamp, now: float) -> bool:
        """Whether to read the file, now that it looks like ``stamp``: once a change has
        looked the same for ``settle`` seconds."""
        if stamp == self.read:
            self.seen_at = None
            return False
        if stamp != self.seen or self.seen_at is None:
            self.seen, self.seen_at = stamp, now
            return False
        return now - self.seen_at >= self.settle

    def look(self, now: float) -> bool:
        return self.due(_stamp(self.path), now)

    @property
    def settling(self) -> bool:
        return self.seen_at is not None


class Reloader:
    """Re-reads the config file; a bad file keeps the running config."""

    def __init__(self, path: Path, fleet: Fleet, telemetry: Telemetry) -> None:
        self.path = path
        self.fleet = fleet
        self.telemetry = telemetry
        self.lock = anyio.Lock()
        self.watch = ConfigWatch(path)

    async def reload(self, only_if_changed: bool = False) -> str | None:
        """Apply the file; with ``only_if_changed``, a file that says what the running
        config says (touched, or saved unchanged) is not applied again."""
        async with self.lock:
            await anyio.to_thread.run_sync(self.watch.reading)
            try:
                config = await anyio.to_thread.run_sync(load_config, self.path)
            except ConfigError as exc:
                problems = "; ".join(exc.lines)
                self.telemetry.record_reload(False, self.telemetry.clock.time(), problems)
                log.error(
                    "config reload failed, keeping the running config",
                    extra={"kv": {"file": str(self.path), "err": problems}},
                )
                return f"{self.path}: {problems}"
            digest = config_hash(config)
            if only_if_changed and digest == self.telemetry.config_hash:
                if not self.telemetry.config_reload_ok:  # a bad edit, put back as it was
                    self.telemetry.record_reload(True, self.telemetry.clock.time(), digest=digest)
                return None
            await self.fleet.apply(config)
            self.telemetry.record_reload(True, self.telemetry.clock.time(), digest=digest)
            log.info(
                "config reloaded",
                extra={"kv": {"sources": len(config.sources), "sha256": digest[:12]}},
            )
            return None


async def _watch(reloader: Reloader, every: float, clock: Clock) -> None:
    """Reloads the config file when it changes: what SIGHUP does, without the signal,
    so an edited ConfigMap (mounted as a directory) is applied within seconds."""
    watch = reloader.watch
    while True:
        await clock.sleep(min(every, SETTLE / 2) if watch.settling else every)
        # stat(2) off the event loop: a config on a hung network mount must not stall it
        if await anyio.to_thread.run_sync(watch.look, clock.monotonic()):
            log.info("config file changed", extra={"kv": {"file": str(reloader.path)}})
            await reloader.reload(only_if_changed=True)


async def _signals(tg: TaskGroup, reloader: Reloader | None) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
        async for signum in signals:
            if signum == signal.SIGHUP:
                if reloader is not None:
                    await reloader.reload()
                continue
            log.info("shutting down", extra={"kv": {"signal": signal.Signals(signum).name}})
            tg.cancel_scope.cancel()
            return


async def run(config: Config, options: RunOptions) -> None:
    """Listen, then poll and serve until SIGTERM or SIGINT. An address that cannot be
    served fails before any upstream is asked anything."""
    clock = options.clock
    telemetry = Telemetry(options.shard, process_metrics=options.process_metrics, clock=clock)
    telemetry.record_reload(True, clock.time(), digest=config_hash(config))
    if options.on_started is not None:
        options.on_started(telemetry)
    store = ExpositionStore(telemetry)
    books = None
    if options.storage_path is not None:
        books = await anyio.to_thread.run_sync(Storage.open, options.storage_path, clock)
        telemetry.storage = books
    try:
        await _serve_and_poll(config, options, telemetry, store, books)
    finally:
        if books is not None:
            await anyio.to_thread.run_sync(books.close)


async def _serve_and_poll(
    config: Config,
    options: RunOptions,
    telemetry: Telemetry,
    store: ExpositionStore,
    books: Storage | None,
) -> None:
    clock = options.clock
    listening = anyio.Event()

    def on_listening(addresses: list[str]) -> None:
        if options.on_listening is not None:
            options.on_listening(addresses)
        listening.set()

    async with anyio.create_task_group() as tg:
        fleet = Fleet(
            store,
            telemetry,
            tg,
            options.shard,
            clock,
            options.publish_every,
            storage=books,
            storage_max_age=options.storage_max_age,
        )
        reloader = Reloader(options.config_file, fleet, telemetry) if options.config_file else None
        app = make_app(
            store,
            telemetry,
            reloader.reload if reloader else None,
            options.web_config,
            options.limits,
            options.telemetry_path,
            lambda: fleet.thresholds,
        )
        ctx = options.web_config.ssl_context() if options.web_config else None
        tg.start_soon(serve, app, options.listeners, ctx, on_listening)
        await listening.wait()
        await fleet.apply(config)
        if options.handle_signals:
            tg.start_soon(_signals, tg, reloader)
        if reloader is not None and options.config_watch_every > 0:
            tg.start_soon(_watch, reloader, options.config_watch_every, clock)
