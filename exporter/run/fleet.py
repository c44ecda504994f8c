"""The running sources: each source's scheduler in one task group, so a slow or failing
source never stalls another, and scrapes never wait on upstream I/O.

``Fleet.apply`` moves to a new config: a source whose name, type, base_url and credentials
stay keeps its books, its queue of reads and its learned pace.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
from anyio.abc import TaskGroup

from ..books import records
from ..books.ledger import Ledger
from ..books.records import LearnedPace
from ..books.shard import Shard
from ..books.storage import Storage
from ..clock import SYSTEM_CLOCK, Clock
from ..config.egress import egress_warnings
from ..config.loader import Config
from ..config.schema import SourceConfig
from ..config.thresholds import DEFAULTS
from ..exposition.store import ExpositionStore
from ..sources import SOURCE_KINDS
from ..telemetry import Telemetry
from ..upstream.client import UpstreamClient
from .publication import PUBLISH_EVERY
from .scheduler import Scheduler

log = logging.getLogger("campaign_exporter.poller")


@dataclass
class Running:
    config: SourceConfig
    scheduler: Scheduler
    scope: anyio.CancelScope


class Fleet:
    """The running sources and the thresholds in force; ``apply`` moves them to a new
    config, keeping unchanged sources."""

    def __init__(
        self,
        store: ExpositionStore,
        telemetry: Telemetry,
        tg: TaskGroup,
        shard: Shard,
        clock: Clock = SYSTEM_CLOCK,
        publish_every: float = PUBLISH_EVERY,
        storage: Storage | None = None,
        storage_max_age: float | None = None,
    ) -> None:
        self.storage = storage
        self.storage_max_age = storage_max_age
        self.store = store
        self.telemetry = telemetry
        self.tg = tg
        self.shard = shard
        self.clock = clock
        self.publish_every = publish_every
        self.running: dict[str, Running] = {}
        self.thresholds = DEFAULTS

    async def apply(self, config: Config) -> None:
        self.thresholds = config.thresholds
        wanted = {c.name: c for c in config.sources}
        for name, run in list(self.running.items()):
            new = wanted.get(name)
            if new == run.config:
                continue
            keep = new is not None and new.same_books(run.config)
            await self._stop(name, forget=not keep)
            if new is not None:
                self._start(new, carry=run.scheduler if keep else None)
        for name, cfg in wanted.items():
            if name not in self.running:
                self._start(cfg)
        if self.storage is not None:  # the rows of sources no longer configured go
            self.storage.forget_others(
                {records.source_key(c.name, c.type, str(c.base_url)) for c in config.sources}
            )

    def _start(self, cfg: SourceConfig, carry: Scheduler | None = None) -> None:
        kind = SOURCE_KINDS[cfg.type]
        warnings = egress_warnings(cfg)
        for warning in warnings:
            log.warning(warning, extra={"kv": {"source": cfg.name, "base_url": cfg.base_url}})
        self.telemetry.register(cfg.name, cfg.type, cfg.poll_interval, warnings)
        client = kind.client(cfg, self.telemetry, clock=self.clock)
        source = kind.create(cfg, client)
        if carry is not None:
            client.adopt(carry.source.client)
            ledger = carry.ledger
            ledger.adopt(source)
        else:
            ledger = Ledger(source, shard=self.shard, clock=self.clock)
        restored: list[str] = []
        persist = None
        if self.storage is not None and self.storage.usable:
            key = records.source_key(cfg.name, cfg.type, str(cfg.base_url))
            if carry is None:
                # nothing older than --storage.max-age, by default the source's retention
                max_age = self.storage_max_age or cfg.retention
                restored = self._restore(key, source, ledger, max_age)
                client.resume(self.storage.load_paces(key, max_age))
                ledger.restore_marks(self.storage.load_marks(key, max_age))
            ledger.keeps_marks = True
            persist = self._persister(key, ledger, client)
        scheduler = Scheduler(
            source,
            ledger,
            self.store,
            self.telemetry,
            self.clock,
            carry,
            self.publish_every,
            persist=persist,
            restored=restored,
            failed_states=kind.display.failed_states,
        )
        scope = anyio.CancelScope()
        self.running[cfg.name] = Running(cfg, scheduler, scope)

        async def run() -> None:
            with scope:
                try:
                    await scheduler.run()
                finally:
                    with anyio.CancelScope(shield=True):
                        await source.aclose()

        self.tg.start_soon(run, name=f"source {cfg.name}")

    def _restore(self, key: str, source: Any, ledger: Ledger[Any], max_age: float) -> list[str]:
        """What the last run kept of this source, read within ``max_age`` seconds, into its
        books; rows outside this replica's shard go."""
        assert self.storage is not None
        rows = self.storage.load(key, max_age)
        found, bad = records.entries(rows, source.snapshot_type())
        restored = ledger.restore(found)
        others = {row.campaign_id for row in rows} - set(restored)
        if others:  # another shard's, or no longer restorable
            self.storage.submit(key, dict.fromkeys(others, (None, None)))
        log.info(
            "books restored",
            extra={
                "kv": {
                    "source": source.name,
                    "campaigns": len(restored),
                    "dropped": len(others),
                    "unreadable": bad,
                }
            },
        )
        return restored

    def _persister(
        self, key: str, ledger: Ledger[Any], client: UpstreamClient
    ) -> Callable[[Mapping[str, Any]], None]:
        """What each publication hands to storage: the campaigns it changed, their
        retirement and exclusion marks, and the learned paces when they moved."""
        assert self.storage is not None
        store, source = self.storage, ledger.source
        paces: dict[str, LearnedPace] = {}

        def persist(entries: Mapping[str, Any]) -> None:
            nonlocal paces
            learned = client.learned()
            if learned != paces:
                store.submit_paces(key, {c: p for c, p in learned.items() if paces.get(c) != p})
                paces = learned
            marks = ledger.take_marks()
            if marks:
                store.submit_marks(key, marks)
            store.submit(
                key,
                {
                    cid: (
                        None
                        if e is None
                        else dataclasses.replace(e, snapshot=source.stored(e.snapshot)),  # type: ignore[attr-defined]
                        ledger.versions.get(cid),
                    )
                    for cid, e in entries.items()
                },
            )

        return persist

    async def _stop(self, name: str, forget: bool) -> None:
        run = self.running.pop(name)
        run.scope.cancel()
        if forget:
            self.store.remove(name)
            self.telemetry.forget(name)

    async def stop_all(self) -> None:
        for name in list(self.running):
            await self._stop(name, forget=False)
