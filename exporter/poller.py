"""The background poll loop: each source refreshes on its own interval in one task group.

A slow or failing source never stalls another, and scrapes never wait on upstream I/O.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import anyio
from anyio.abc import TaskGroup

from . import memory
from .clock import SYSTEM_CLOCK, Clock
from .config import Config
from .egress import egress_warnings
from .exposition import MetricFamily, pre_render
from .ledger import Ledger, RefreshReport
from .schema import MetricSelection, SourceConfig
from .shard import Shard
from .sources import SOURCE_KINDS, CampaignRow, Source, SourceError
from .store import ExpositionStore
from .telemetry import Telemetry

log = logging.getLogger("campaign_exporter.poller")
MAX_BACKOFF = 300.0


async def poll_forever(
    source: Source[Any, Any],
    ledger: Ledger[Any],
    store: ExpositionStore,
    telemetry: Telemetry,
    clock: Clock = SYSTEM_CLOCK,
) -> None:
    config = source.config
    telemetry.register(config.name, config.type, config.poll_interval, egress_warnings(config))
    interval = source.config.poll_interval
    last_error: str | None = None
    failures = 0
    while True:
        started_wall, started = clock.time(), clock.monotonic()
        report = await _refresh(source.name, ledger)
        duration = clock.monotonic() - started
        failure = report.failure
        # Rendering 100k samples takes a while: keep it off the event loop. The
        # books are not touched meanwhile: this task is their only writer.
        rows: Sequence[CampaignRow] = ()
        try:
            rows = await anyio.to_thread.run_sync(_publish, source, ledger, store)
        except Exception as exc:  # the last good exposition stays served
            log.exception("publishing the refresh failed", extra={"kv": {"source": source.name}})
            failure = SourceError(f"render failed: {type(exc).__name__}", "internal")
        error = str(failure) if failure else None
        # Recorded only once the data is published, so "up" and "ready" never run ahead
        # of what /metrics shows.
        telemetry.record_refresh(
            source.name, report, started=started_wall, duration=duration, error=error, rows=rows
        )
        if error != last_error:  # one line when the state changes, not every interval
            _log_transition(source.name, failure, duration)
            last_error = error
        failures = 0 if failure is None else failures + 1
        next_start = started + next_delay(interval, failures)
        await clock.sleep(max(0.0, next_start - clock.monotonic()))


def next_delay(interval: float, failures: int) -> float:
    """The poll interval, doubled for each failure after the first, up to 5 minutes
    (or the interval itself, when that is longer): a failing upstream is not hammered."""
    if failures <= 1:
        return interval
    return min(interval * 2.0 ** min(failures - 1, 16), max(interval, MAX_BACKOFF))


def _publish(
    source: Source[Any, Any], ledger: Ledger[Any], store: ExpositionStore
) -> list[CampaignRow]:
    """Render and publish a source's families; return its status-page rows (worker thread)."""
    entries = ledger.current()
    families = exported(source.render(entries), source.config.metrics)
    store.publish(source.name, pre_render(families))
    rows = [source.row(entry) for entry in entries]
    memory.trim()  # may take milliseconds on a large heap: not on the event loop
    return rows


def exported(families: list[MetricFamily], metrics: MetricSelection) -> list[MetricFamily]:
    """What a source's ``metrics:`` keeps of its families; with sparse state sets, only
    each campaign's current state (the series of value 1) stays of a state set."""
    kept = [fam for fam in families if metrics.keeps(fam.name)]
    if metrics.state_sets == "sparse":
        for fam in kept:
            if fam.state_set:
                fam.samples = [sample for sample in fam.samples if sample[1] == 1.0]
    return kept


async def _refresh(name: str, ledger: Ledger[Any]) -> RefreshReport:
    try:
        return await ledger.refresh()
    except SourceError as exc:
        return RefreshReport(failure=exc, campaigns=len(ledger))
    except Exception as exc:  # a bug in one source must not stop the others
        log.exception(
            "refresh crashed",
            extra={"kv": {"source": name, "exception": _names(exc)}},
        )
        return RefreshReport(
            failure=SourceError(f"internal error: {_names(exc)}", "internal"),
            campaigns=len(ledger),
        )


def _names(exc: BaseException) -> str:
    """The exception's type, or the types inside an exception group."""
    if isinstance(exc, BaseExceptionGroup):
        return ", ".join(sorted({_names(inner) for inner in exc.exceptions}))
    return type(exc).__name__


def _log_transition(name: str, failure: SourceError | None, duration: float) -> None:
    if failure is None:
        log.info("source refreshed", extra={"kv": {"source": name, "duration": f"{duration:.3f}s"}})
        return
    kv = {
        "source": name,
        "reason": failure.reason,
        "err": str(failure),
        "correlation_id": failure.correlation_id,
    }
    log.warning("source refresh failed", extra={"kv": kv})


@dataclass
class Running:
    config: SourceConfig
    ledger: Ledger[Any]
    scope: anyio.CancelScope


class Fleet:
    """The running sources; ``apply`` moves it to a new config, keeping unchanged ones."""

    def __init__(
        self,
        store: ExpositionStore,
        telemetry: Telemetry,
        tg: TaskGroup,
        shard: Shard,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.store = store
        self.telemetry = telemetry
        self.tg = tg
        self.shard = shard
        self.clock = clock
        self.running: dict[str, Running] = {}

    async def apply(self, config: Config) -> None:
        wanted = {c.name: c for c in config.sources}
        for name, run in list(self.running.items()):
            if wanted.get(name) != run.config:
                await self._stop(
                    name, forget=name not in wanted or wanted[name].type != run.config.type
                )
        for name, cfg in wanted.items():
            if name not in self.running:
                await self._start(cfg)

    async def _start(self, cfg: SourceConfig) -> None:
        kind = SOURCE_KINDS[cfg.type]
        for warning in egress_warnings(cfg):
            log.warning(warning, extra={"kv": {"source": cfg.name, "base_url": cfg.base_url}})
        client = kind.client(cfg, self.telemetry, clock=self.clock)
        source = kind.create(cfg, client)
        ledger: Ledger[Any] = Ledger(source, shard=self.shard, clock=self.clock)
        scope = anyio.CancelScope()
        self.running[cfg.name] = Running(cfg, ledger, scope)

        async def run() -> None:
            with scope:
                try:
                    await poll_forever(source, ledger, self.store, self.telemetry, self.clock)
                finally:
                    with anyio.CancelScope(shield=True):
                        await source.aclose()

        self.tg.start_soon(run, name=f"source {cfg.name}")

    async def _stop(self, name: str, forget: bool) -> None:
        run = self.running.pop(name)
        run.scope.cancel()
        if forget:
            self.store.remove(name)
            self.telemetry.forget(name)

    async def stop_all(self) -> None:
        for name in list(self.running):
            await self._stop(name, forget=False)
