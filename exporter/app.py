"""Runs the exporter: the poll loop, the HTTP server, signals and config reloads."""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from anyio.abc import TaskGroup

from .clock import SYSTEM_CLOCK, Clock
from .config import Config, ConfigError, load_config
from .poller import Fleet
from .scheduler import PUBLISH_EVERY
from .shard import Shard
from .storage import Storage, source_key
from .store import ExpositionStore
from .telemetry import Telemetry
from .web import Listener, ServingLimits, make_app, serve
from .webconfig import WebConfigFile

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


class Reloader:
    """Re-reads the config file; a bad file keeps the running config."""

    def __init__(self, path: Path, fleet: Fleet, telemetry: Telemetry) -> None:
        self.path = path
        self.fleet = fleet
        self.telemetry = telemetry
        self.lock = anyio.Lock()

    async def reload(self) -> str | None:
        async with self.lock:
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
            await self.fleet.apply(config)
            self.telemetry.record_reload(True, self.telemetry.clock.time())
            log.info("config reloaded", extra={"kv": {"sources": len(config.sources)}})
            return None


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
    telemetry.record_reload(True, clock.time())
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
        if books is not None:
            books.forget_others(
                {source_key(c.name, c.type, str(c.base_url)) for c in config.sources}
            )
        reloader = Reloader(options.config_file, fleet, telemetry) if options.config_file else None
        app = make_app(
            store,
            telemetry,
            reloader.reload if reloader else None,
            options.web_config,
            options.limits,
            options.telemetry_path,
        )
        ctx = options.web_config.ssl_context() if options.web_config else None
        tg.start_soon(serve, app, options.listeners, ctx, on_listening)
        await listening.wait()
        await fleet.apply(config)
        if options.handle_signals:
            tg.start_soon(_signals, tg, reloader)
