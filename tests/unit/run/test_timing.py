"""Logic that depends on time, on a manual clock: the polling cadence, the walk's delay
and backoff, the failure streak, and what a nulled field keeps. Each fails when its
behaviour is broken, in milliseconds (the analytics re-check after a 403, against the
simulator, is in tests/integration/test_timing.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import date
from typing import Any

import pytest

from exporter.books.ledger import Book, Entry, Ledger
from exporter.books.reads import Listing, Outcome, Read, RefreshReport, SourceError
from exporter.clock import ManualClock
from exporter.config.loader import parse_config
from exporter.exposition.render import MetricFamily
from exporter.exposition.store import ExpositionStore
from exporter.run.scheduler import Scheduler
from exporter.sources.base import CampaignRow, Source
from exporter.sources.experiture import schedule
from exporter.sources.experiture.config import ExperitureConfig
from exporter.sources.experiture.model import (
    CampaignSetup,
    ExecutionStatus,
    ListedCampaign,
    Schedule,
)
from exporter.sources.experiture.records import CampaignRecord
from exporter.sources.greenarrow.model import GACampaignSnapshot
from exporter.sources.greenarrow.source import GreenArrowSource
from exporter.telemetry import Telemetry

from ...helpers import Samples, experiture_source, ga_source

pytestmark = pytest.mark.anyio
NOW = 1_800_000_000.0
MINUTE, HOUR = 60.0, 3600.0


def exp_config(**overrides: Any) -> ExperitureConfig:
    overrides.setdefault("poll_interval", "30s")
    source = experiture_source("http://sim.invalid", **overrides)
    config = parse_config({"sources": [source]}).sources[0]
    assert isinstance(config, ExperitureConfig)
    return config


def status(state: str, send_at: float | None = None, done: float | None = None) -> ExecutionStatus:
    schedule = Schedule("at", send_at, None, None) if send_at is not None else None
    return ExecutionStatus(None, None, state, None, done, None, schedule)


# Defaults: poll_interval 30s, scheduled_interval 10m, send_lead 10m, settle_for 1h,
# settle_interval 5m, idle_interval 1h.
CADENCE = [
    ("running", status("running"), 30.0),
    ("overdue", status("pending_or_overdue"), 30.0),
    ("undocumented", status("paused_by_ops"), 30.0),
    ("scheduled in a day", status("scheduled", send_at=NOW + 24 * HOUR), 10 * MINUTE),
    ("scheduled in 15m", status("scheduled", send_at=NOW + 15 * MINUTE), 5 * MINUTE),
    ("scheduled in 5m", status("scheduled", send_at=NOW + 5 * MINUTE), 30.0),
    ("scheduled, no time", status("scheduled"), 30.0),
    ("completed just now", status("completed", done=NOW - MINUTE), 5 * MINUTE),
    ("failed 2h ago", status("failed", done=NOW - 2 * HOUR), HOUR),
    ("completed, no time", status("completed"), HOUR),
    ("not scheduled", status("not_scheduled"), HOUR),
]


@pytest.mark.parametrize(("case", "st", "seconds"), CADENCE, ids=[c[0] for c in CADENCE])
def test_cadence_by_state(case: str, st: ExecutionStatus, seconds: float) -> None:
    assert schedule.cadence(exp_config(), CampaignRecord("c1", status=st), NOW) == seconds


def batch(day: str) -> CampaignSetup:
    when = Schedule("batch_on_date", None, date.fromisoformat(day), "UTC")
    return CampaignSetup(None, "direct_mail", None, None, when, None, None)


def test_a_batch_day_from_the_summary_sets_the_cadence() -> None:
    """The documented /status schedule has no batchDate: the summary's is used."""
    # NOW is 2027-01-15T08:00Z: tomorrow's batch is 16 hours off, today's has begun
    tomorrow = CampaignRecord("c1", status=status("scheduled"), setup=batch("2027-01-16"))
    assert schedule.cadence(exp_config(), tomorrow, NOW) == 10 * MINUTE
    today = CampaignRecord("c1", status=status("scheduled"), setup=batch("2027-01-15"))
    assert schedule.cadence(exp_config(), today, NOW) == 30.0


def test_without_adaptive_polling_every_campaign_is_read_every_interval() -> None:
    config = exp_config(polling={"adaptive": False})
    for _, st, _ in CADENCE:
        assert schedule.cadence(config, CampaignRecord("c1", status=st), NOW) == 30.0


def listing(updated: str) -> ListedCampaign:
    return ListedCampaign("c1", None, None, None, updated)


def test_summary_is_read_again_when_edited_or_stale() -> None:
    config, fixed = exp_config(summary_interval="10m"), exp_config(polling={"adaptive": False})
    rec = CampaignRecord("c1", listing=listing("v1"))
    assert schedule.setup_due(config, rec, 0.0), "never read"
    rec.setup = object()  # type: ignore[assignment]
    rec.setup_version, rec.setup_read = "v1", 1000.0
    assert not schedule.setup_due(config, rec, 1000.0 + 10 * HOUR), "adaptive: on change only"
    rec.listing = listing("v2")
    assert schedule.setup_due(config, rec, 1001.0)
    rec.listing = listing("v1")
    assert not schedule.setup_due(fixed, rec, 1000.0 + 599)
    assert schedule.setup_due(fixed, rec, 1000.0 + 600)


class Flaky(Source[Any, Any]):
    """A source whose walks fail or succeed as scripted."""

    def __init__(self, config: Any, outcomes: list[bool]) -> None:
        self.config, self.outcomes = config, outcomes

    async def perform(self, read: Read, book: Book[Any]) -> Outcome[Any]:
        ok = self.outcomes.pop(0)
        if not ok:
            return Outcome(failure=SourceError("down"))
        walk = self.walk_read(book.monotonic() + self.config.poll_interval)
        return Outcome(listing=Listing([]), follow=[walk])

    def state_of(self, snapshot: Any) -> str | None:
        return None

    def render(self, entries: Sequence[Entry[Any]]) -> list[MetricFamily]:
        return []

    def row(self, entry: Entry[Any]) -> CampaignRow:
        raise AssertionError


async def run_walks(outcomes: list[bool]) -> tuple[list[float], Telemetry, list[int]]:
    """Walk over scripted outcomes, each at its due time; the delay until the next walk
    after each, and the failure streak."""
    telemetry = Telemetry()
    config = exp_config()
    telemetry.register("prod", "experiture", config.poll_interval)
    source = Flaky(config, list(outcomes))
    clock = ManualClock()
    ledger: Ledger[Any] = Ledger(source, clock=clock)
    scheduler = Scheduler(source, ledger, ExpositionStore(telemetry), telemetry, clock)
    delays: list[float] = []
    streaks: list[int] = []
    while source.outcomes:
        await scheduler.drain()
        [walk] = [r for r in scheduler.queue.reads.values() if r.walk]
        delays.append(walk.due - clock.monotonic())
        streaks.append(telemetry.sources["prod"].consecutive_failures)
        clock.advance(walk.due - clock.monotonic())
    return delays, telemetry, streaks


async def test_a_failing_source_waits_twice_as_long_after_each_further_failure() -> None:
    delays, _, _ = await run_walks([False] * 7)
    assert delays == [30, 60, 120, 240, 300, 300, 300]


async def test_one_success_resets_the_streak_and_the_delay() -> None:
    delays, telemetry, streaks = await run_walks([False, False, False, True, False])
    assert streaks == [1, 2, 3, 0, 1]
    assert delays == [30, 60, 120, 30, 30]
    assert telemetry.sources["prod"].refreshes == {"success": 1, "partial": 0, "failure": 4}


def test_the_failure_streak_is_telemetrys_to_keep() -> None:
    telemetry = Telemetry()
    telemetry.register("s", "experiture", 30)
    for failure, streak in [
        (SourceError("x"), 1),
        (SourceError("x"), 2),
        (None, 0),
        (SourceError("x"), 1),
    ]:
        telemetry.record_walk("s", failure, 0.0)
        assert telemetry.sources["s"].consecutive_failures == streak
        assert telemetry.sources["s"].up is (failure is None)


async def test_metrics_and_the_walks_back_off_read_the_one_failure_streak() -> None:
    """After each walk, /metrics' consecutive_failures, the queued walk's failures in a
    row and its delay all follow the streak telemetry counts."""
    telemetry = Telemetry(process_metrics=False)
    config = exp_config()
    telemetry.register("prod", "experiture", config.poll_interval)
    source = Flaky(config, [False, False, True, False, False, False, True])
    clock = ManualClock()
    store = ExpositionStore(telemetry)
    scheduler = Scheduler(source, Ledger(source, clock=clock), store, telemetry, clock)
    seen: list[tuple[float | None, int, float]] = []
    while source.outcomes:
        await scheduler.drain()
        [walk] = [r for r in scheduler.queue.reads.values() if r.walk]
        body = store.build(openmetrics=False, gzip=False).body + store.dynamic(False)
        on_metrics = Samples(body.decode())  # what a scrape of /metrics gets
        streak = on_metrics.value("campaign_exporter_source_consecutive_failures", source="prod")
        seen.append((streak, walk.failures, walk.due - clock.monotonic()))
        clock.advance(walk.due - clock.monotonic())
    assert seen == [
        (1, 1, 30),
        (2, 2, 60),
        (0, 0, 30),
        (1, 1, 30),
        (2, 2, 60),
        (3, 3, 120),
        (0, 0, 30),
    ]


async def test_a_walk_queued_afresh_backs_off_by_the_sources_streak() -> None:
    """A reload that keeps the books queues a new walk at once; when it fails, it waits as
    the source's streak says, not as a first failure."""
    telemetry = Telemetry(process_metrics=False)
    config = exp_config()
    telemetry.register("prod", "experiture", config.poll_interval)
    source = Flaky(config, [False, False, False])
    clock = ManualClock()
    store = ExpositionStore(telemetry)
    ledger: Ledger[Any] = Ledger(source, clock=clock)
    scheduler = Scheduler(source, ledger, store, telemetry, clock)
    await scheduler.drain()
    clock.advance(30)
    await scheduler.drain()  # two walks failed in a row
    scheduler = Scheduler(source, ledger, store, telemetry, clock, carry=scheduler)
    [walk] = [r for r in scheduler.queue.reads.values() if r.walk]
    assert (walk.due - clock.monotonic(), walk.failures) == (0, 0)
    await scheduler.drain()
    [walk] = [r for r in scheduler.queue.reads.values() if r.walk]
    assert telemetry.sources["prod"].consecutive_failures == 3
    assert (walk.due - clock.monotonic(), walk.failures) == (120, 3)


def snapshot(**changes: Any) -> GACampaignSnapshot:
    base: dict[str, Any] = {
        "campaign_id": "7",
        "name": "Spring",
        "state": "sending",
        "paused": False,
        "organization_id": "1",
        "organization": "Org",
        "mailing_list_id": "2",
        "mailing_list": "List",
        "stats": {"sent": {"total": 10, "bounced": 1}, "open": {"total": 4}},
    }
    base.update(changes)
    return GACampaignSnapshot(**base)


def test_nulled_fields_and_stats_groups_keep_their_last_good_values() -> None:
    config = parse_config({"sources": [ga_source("http://ga.invalid")]}).sources[0]
    source = GreenArrowSource(config, None)  # type: ignore[arg-type]
    previous = snapshot(started_after=NOW - HOUR)
    new = snapshot(name=None, organization=None, stats={"sent": {"total": 12}})
    merged = source.merge(previous, new)
    assert merged.name == "Spring" and merged.organization == "Org"
    assert merged.stats == {"sent": {"total": 12}, "open": {"total": 4}}
    assert merged.started_after == NOW - HOUR


def test_a_round_with_campaigns_left_unread_is_partial_and_says_how_many() -> None:
    telemetry = Telemetry()
    telemetry.register("s", "experiture", 30)
    telemetry.record_walk("s", None, 0.0)
    rows = [CampaignRow(f"c{i}", "", "running", None, None, None, 0.0) for i in range(10)]
    failed = [dataclasses.replace(row, error="status: HTTP 503") for row in rows[:3]]
    telemetry.record_refresh(
        "s",
        RefreshReport(polled=10, failed=3),
        started=0,
        duration=0,
        error=None,
        rows=failed + rows[3:],
    )
    status = telemetry.sources["s"]
    assert status.refreshes == {"success": 0, "partial": 1, "failure": 0}
    assert status.up and status.consecutive_failures == 0
    [(_, unread)] = next(
        f
        for f in telemetry.families()
        if f.name == "campaign_exporter_source_campaigns_unrefreshed"
    ).samples
    assert unread == 3
    telemetry.record_refresh(
        "s", RefreshReport(polled=10), started=0, duration=0, error=None, rows=rows
    )
    assert status.refreshes["success"] == 1 and status.unrefreshed == 0


def test_up_follows_the_walk_and_the_share_of_reads_failed_in_the_last_interval() -> None:
    telemetry = Telemetry()
    telemetry.register("s", "experiture", 30)
    status = telemetry.sources["s"]
    assert not status.up, "down until a walk works"
    telemetry.record_walk("s", None, 0.0)
    assert status.up
    for i in range(4):
        telemetry.record_read("s", "active", ok=i < 2, when=float(i))
    assert not status.up, "half of the interval's reads failed"
    assert status.last_error == "2 of 4 reads of the last poll interval failed"
    telemetry.record_read("s", "active", ok=True, when=4.0)
    assert status.up, "2 of 5"
    for i in range(5):  # 31 s on, the failures are out of the interval
        telemetry.record_read("s", "active", ok=True, when=35.0 + i)
    assert status.up and status.last_error is None
    telemetry.record_walk("s", SourceError("campaign discovery failed: HTTP 503"), 40.0)
    assert not status.up and status.last_error == "campaign discovery failed: HTTP 503"
