"""The scheduler on injected time: the order reads are sent in, each endpoint class's own
budget, a failed read's back-off, the backlog gauges, coalesced publications, and what a
reload keeps.

Every expected value is written out here, never computed from the code under test. The
tests that run the dispatchers (``Scheduler.run``) use ``HeldClock``: virtual time that
moves only when the test moves it, so a sleep on it ends exactly when the test says and
never by real time; they wait for what they expect with a deadline, never for a fixed
while. The test source's upstream is a real HTTP server on loopback (``serving``), never
a mock transport.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import anyio
import anyio.lowlevel
import pytest
from aiohttp import web

from exporter.books.ledger import Book, Entry, Ledger
from exporter.books.reads import Listing, Outcome, Read, Urgency
from exporter.books.shard import Shard
from exporter.books.storage import Storage
from exporter.clock import Clock, ManualClock
from exporter.config.loader import Config, parse_config
from exporter.config.schema import SourceConfig
from exporter.config.types import HttpUrl
from exporter.exposition.render import MetricFamily, RenderedFamily
from exporter.exposition.store import ExpositionStore
from exporter.run.fleet import Fleet
from exporter.run.scheduler import Scheduler
from exporter.sources import SOURCE_KINDS
from exporter.sources.base import CampaignRow, Display, Source, SourceError, SourceKind
from exporter.telemetry import Telemetry
from exporter.upstream.client import UpstreamClient
from exporter.upstream.failures import UpstreamError, no_error_fields

from ..helpers import serving_vendor

pytestmark = pytest.mark.anyio

WALL = 1_800_000_000.0  # Unix time at monotonic 0 on every test clock
DEADLINE = 10.0  # seconds of real time a wait may take before the test fails
CAMPAIGNS, ANALYTICS = "campaigns", "analytics"
STATE_EVERY = 30.0  # the interval of a campaign's reads in the test source


# -- virtual time that moves only when the test moves it ------------------------------


class HeldClock:
    """Monotonic time from 0 (Unix time ``WALL`` + it) that moves only by ``to``; a sleep
    on it returns once the test has moved it past the sleep's end."""

    EPSILON = 1e-9  # ends within a nanosecond of the time are reached (float sums)

    def __init__(self, signal: Signal | None = None) -> None:
        self.mono = 0.0
        self.signal = signal  # told of each sleep begun
        self._sleepers: list[tuple[float, anyio.Event]] = []

    def time(self) -> float:
        return WALL + self.mono

    def monotonic(self) -> float:
        return self.mono

    def to(self, mono: float) -> None:
        assert mono >= self.mono, "time never goes back"
        self.mono = mono
        for end, woken in self._sleepers:
            if end <= mono + self.EPSILON:
                woken.set()

    async def sleep(self, seconds: float) -> None:
        end = self.mono + max(0.0, seconds)
        if end > self.mono + self.EPSILON:
            sleeper = (end, anyio.Event())
            self._sleepers.append(sleeper)
            if self.signal is not None:
                self.signal.notify()
            try:
                await sleeper[1].wait()
            finally:
                self._sleepers.remove(sleeper)
        await anyio.lowlevel.checkpoint()

    def sleeping_until(self, end: float) -> bool:
        """Whether something sleeps until ``end``."""
        return any(at == end for at, _ in self._sleepers)


class Signal:
    """Something happened (a read landed, a publication was made): whoever waits on a
    condition looks again."""

    def __init__(self) -> None:
        self._event = anyio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = anyio.Event()

    async def until(self, check: Callable[[], bool], what: str) -> None:
        """Until ``check`` holds, looked at again at each notice; a failure after
        ``DEADLINE`` seconds of real time (an AssertionError: an Exception, which an
        event loop hands back, where pytest.fail's BaseException escapes it)."""
        try:
            with anyio.fail_after(DEADLINE):
                while True:
                    seen = self._event
                    if check():
                        return
                    await seen.wait()
        except TimeoutError:
            raise AssertionError(f"timed out after {DEADLINE:g}s waiting for {what}") from None


class WatchedTelemetry(Telemetry):
    """Telemetry that tells a ``Signal`` of each publication."""

    def __init__(self, signal: Signal, clock: Clock) -> None:
        super().__init__(process_metrics=False, clock=clock)
        self.signal = signal

    def record_publication(
        self,
        name: str,
        *,
        rows: Sequence[Any],
        campaigns: int,
        walked: bool,
        error: str | None = None,
    ) -> None:
        super().record_publication(name, rows=rows, campaigns=campaigns, walked=walked, error=error)
        self.signal.notify()


class CountingStore(ExpositionStore):
    """The store, noting each update: when (monotonic) and which campaigns it re-rendered."""

    def __init__(self, telemetry: Telemetry, clock: Clock) -> None:
        super().__init__(telemetry)
        self.clock = clock
        self.updates: list[tuple[float, list[str]]] = []

    def update(
        self,
        source: str,
        campaigns: Mapping[str, Sequence[RenderedFamily] | None],
        totals: Sequence[RenderedFamily],
        some: Mapping[str, Sequence[RenderedFamily]] | None = None,
    ) -> None:
        self.updates.append((self.clock.monotonic(), sorted(campaigns)))
        super().update(source, campaigns, totals, some)


# -- a test-only source with two endpoint classes -------------------------------------


class TickerConfig(SourceConfig):
    metric_families: ClassVar[tuple[str, ...]] = ("ticker_campaign_reads", "ticker_campaign_up")
    endpoint_classes: ClassVar[tuple[str, ...]] = (CAMPAIGNS, ANALYTICS)
    type: Literal["ticker"] = "ticker"
    base_url: HttpUrl


@dataclass(frozen=True)
class Tick:
    campaign_id: str
    state: str | None
    reads: int


@dataclass
class Vendor:
    """What the ticker's upstream answers (served on loopback by ``serving``), and what
    it and the source were asked: a walk lists ``listing`` (GET /campaigns); each
    campaign's state read (class ``campaigns``) finds it running; with ``reports``, each
    listed campaign also has a report read (class ``analytics``)."""

    signal: Signal
    listing: list[str] = field(default_factory=list)
    first: list[Read] | None = None  # what is due at start (None: a walk)
    failing: set[tuple[str, str]] = field(default_factory=set)  # read keys that fail
    repeat: set[str] = field(default_factory=set)  # kinds read again every STATE_EVERY
    reports: bool = False
    throttle_first: bool = False  # the first HTTP call draws a 429 (Retry-After: 0)
    performed: list[tuple[float, str, str, Urgency]] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)  # each HTTP call's Host, in order

    async def answer(self, request: web.Request) -> web.StreamResponse:
        self.hosts.append(request.host)
        if self.throttle_first and len(self.hosts) == 1:
            return web.json_response({}, status=429, headers={"Retry-After": "0"})
        return web.json_response({"campaigns": self.listing})

    def reads(self, *kinds: str) -> list[tuple[float, str, str]]:
        """The reads performed of these kinds (all when none), sorted."""
        return sorted(
            (at, kind, subject)
            for at, kind, subject, _ in self.performed
            if not kinds or kind in kinds
        )


class TickerSource(Source[TickerConfig, Tick]):
    """Two endpoint classes, as Experiture has; what it reads is ``vendor``'s to say."""

    endpoint_classes = (CAMPAIGNS, ANALYTICS)
    active_states = frozenset({"running"})

    def __init__(self, config: TickerConfig, client: UpstreamClient, vendor: Vendor) -> None:
        super().__init__(config, client)
        self.vendor = vendor

    def first_reads(self, book: Book[Tick]) -> list[Read]:
        if self.vendor.first is not None:
            return list(self.vendor.first)
        return super().first_reads(book)

    def reads_for(self, campaign_id: str, book: Book[Tick], due: float, rank: float) -> list[Read]:
        reads = [Read("state", campaign_id, CAMPAIGNS, Urgency.UNREAD, due, STATE_EVERY, rank)]
        if self.vendor.reports:
            reads.append(
                Read("report", campaign_id, ANALYTICS, Urgency.DETAIL, due, STATE_EVERY, rank)
            )
        return reads

    async def perform(self, read: Read, book: Book[Tick]) -> Outcome[Tick]:
        vendor, now = self.vendor, book.monotonic()
        outcome: Outcome[Tick] = Outcome()
        if read.key in vendor.failing:
            outcome.failure = SourceError(f"{read.kind} of {read.subject!r} refused")
        elif read.walk:
            outcome.follow.append(self.walk_read(now + self.config.poll_interval))
            try:
                resp = await self.client.request(
                    "GET",
                    f"{self.config.base_url}/campaigns",
                    "campaigns",
                    endpoint_class=CAMPAIGNS,
                )
            except UpstreamError as exc:
                outcome.failure = SourceError(str(exc), exc.reason)
            else:
                ids = [str(cid) for cid in resp.body["campaigns"]]
                outcome.listing = Listing([(cid, "v1") for cid in ids])
                outcome.polled = len(ids)
        else:
            previous = book.get(read.subject)
            count = previous.snapshot.reads + 1 if previous is not None else 1
            outcome.read[read.subject] = Tick(read.subject, "running", count)
            outcome.polled = 1
            if read.kind in vendor.repeat:
                cls, every = read.endpoint_class, read.interval
                again = Read(read.kind, read.subject, cls, Urgency.ACTIVE, now + every, every)
                again.rank = read.rank
                outcome.follow.append(again)
        # noted last: the scheduler lands the outcome before whoever waits runs
        vendor.performed.append((now, read.kind, read.subject, read.urgency))
        vendor.signal.notify()
        return outcome

    def state_of(self, snapshot: Tick) -> str | None:
        return snapshot.state

    def render(self, entries: Sequence[Entry[Tick]]) -> list[MetricFamily]:
        labels = ("source", "campaign_id")
        reads = MetricFamily("ticker_campaign_reads", "gauge", "Reads of the campaign.", labels)
        up = MetricFamily("ticker_campaign_up", "gauge", "1 while the campaign runs.", labels)
        for e in entries:
            reads.add((self.name, e.campaign_id), e.snapshot.reads)
            up.add((self.name, e.campaign_id), 1.0 if e.state == "running" else 0.0)
        return [reads, up]

    def row(self, entry: Entry[Tick]) -> CampaignRow:
        snap = entry.snapshot
        return CampaignRow(
            snap.campaign_id,
            snap.campaign_id,
            snap.state or "unknown",
            snap.reads,
            None,
            None,
            entry.updated_at,
            entry.error,
        )


def serving(vendor: Vendor) -> contextlib.AbstractAsyncContextManager[str]:
    """``vendor``'s API on 127.0.0.1, on a free port; yields its base URL."""
    return serving_vendor(vendor.answer)


def ticker_config(base_url: str, **overrides: Any) -> TickerConfig:
    raw: dict[str, Any] = {"name": "t", "base_url": base_url, "timeout": "5s"}
    raw.update(overrides)
    return TickerConfig.model_validate(raw)


def state(subject: str, due: float, urgency: Urgency = Urgency.ACTIVE, rank: float = 0) -> Read:
    return Read("state", subject, CAMPAIGNS, urgency, due, STATE_EVERY, rank)


def samples(telemetry: Telemetry, family: str) -> dict[str, float]:
    """One of the source's gauges by its last label (the urgency), or by source."""
    fam = next(f for f in telemetry.families() if f.name == family)
    return {labels[-1]: value for labels, value in fam.samples}


# -- 1. the order of reads ------------------------------------------------------------


def restored_scheduler(clock: ManualClock, stored: Sequence[tuple[str, str, float]]) -> Scheduler:
    """A scheduler starting on books restored from storage: (id, state, last read this long
    before now), in stored order; "failed" is the failed state."""
    cfg = ticker_config("http://127.0.0.1:9")
    telemetry = Telemetry(process_metrics=False, clock=clock)
    telemetry.register(cfg.name, cfg.type, cfg.poll_interval)
    client = UpstreamClient(cfg.name, telemetry, timeout=5, concurrency=8)
    source = TickerSource(cfg, client, Vendor(Signal()))
    ledger: Ledger[Tick] = Ledger(source, clock=clock)
    wall = clock.time()
    restored = ledger.restore(
        (Entry(cid, Tick(cid, st, 1), wall - ago, st, wall - ago, 10.0), "v1")
        for cid, st, ago in stored
    )
    return Scheduler(
        source,
        ledger,
        ExpositionStore(telemetry),
        telemetry,
        clock,
        restored=restored,
        failed_states=frozenset({"failed"}),
    )


def test_restored_campaigns_in_a_failed_state_are_read_first() -> None:
    """What storage restored is read again by urgency, in stored order; a campaign stored
    failed as urgently as a running one: its page waits for this read."""
    clock = ManualClock()
    long_ago = 1e6  # each of them is due at once
    stored = [("done-1", "finished"), ("done-2", "finished"), ("bad", "failed"), ("on", "running")]
    scheduler = restored_scheduler(clock, [(cid, st, long_ago) for cid, st in stored])
    popped = []
    while (read := scheduler.queue.pop(CAMPAIGNS, clock.monotonic())) is not None:
        popped.append((read.kind, read.subject, read.urgency))
    assert popped == [
        ("walk", "", Urgency.ACTIVE),
        ("state", "bad", Urgency.ACTIVE),
        ("state", "done-1", Urgency.UNREAD),
        ("state", "done-2", Urgency.UNREAD),
        ("state", "on", Urgency.UNREAD),
    ]


def test_a_restored_campaign_read_recently_waits_for_its_cadence() -> None:
    """After a short restart, a campaign the last run read 10 s before is read again 20 s
    after the start (its reads' interval is 30 s), one read 100 s before at once; a failed
    one at once whatever its age."""
    clock = ManualClock()
    stored = [("recent", "running", 10.0), ("stale", "running", 100.0), ("bad", "failed", 10.0)]
    scheduler = restored_scheduler(clock, stored)
    start = clock.monotonic()

    def due_by(at: float) -> list[str]:
        popped = []
        while (read := scheduler.queue.pop(CAMPAIGNS, start + at)) is not None:
            popped.append(read.subject)
        return popped

    assert due_by(0.0) == ["", "bad", "stale"]  # the walk, then by urgency
    assert due_by(19.9) == []
    assert due_by(20.0) == ["recent"]


# -- 3. back-off ----------------------------------------------------------------------


def books_on(
    clock: ManualClock, vendor: Vendor, base_url: str, **config: Any
) -> tuple[Scheduler, UpstreamClient]:
    """A ticker's scheduler on a manual clock (driven by ``Scheduler.drain``), its
    upstream at ``base_url``."""
    cfg = ticker_config(base_url, **config)
    telemetry = Telemetry(process_metrics=False, clock=clock)
    telemetry.register(cfg.name, cfg.type, cfg.poll_interval)
    client = UpstreamClient(cfg.name, telemetry, timeout=5, concurrency=8)
    source = TickerSource(cfg, client, vendor)
    ledger: Ledger[Tick] = Ledger(source, clock=clock)
    return Scheduler(source, ledger, ExpositionStore(telemetry), telemetry, clock), client


def schedule(scheduler: Scheduler) -> dict[tuple[str, str], tuple[float, int]]:
    """Each queued read's due time and failures in a row."""
    return {key: (read.due, read.failures) for key, read in scheduler.queue.reads.items()}


async def test_a_failed_read_backs_off_alone_while_the_sources_other_reads_keep_time() -> None:
    clock = ManualClock(wall=WALL, mono=0.0)
    vendor = Vendor(Signal(), listing=["c1", "c2"], failing={("state", "c1")}, repeat={"state"})
    async with serving(vendor) as url:
        scheduler, client = books_on(clock, vendor, url, poll_interval="60s")
        try:
            await scheduler.drain()  # t=0: the walk, then both campaigns' first reads
            assert schedule(scheduler) == {
                ("walk", ""): (60.0, 0),
                ("state", "c1"): (30.0, 1),  # a first failure waits the interval
                ("state", "c2"): (30.0, 0),
            }
            clock.advance(30)
            await scheduler.drain()
            assert schedule(scheduler) == {
                ("walk", ""): (60.0, 0),
                ("state", "c1"): (90.0, 2),  # 30 + 60
                ("state", "c2"): (60.0, 0),
            }
            clock.advance(30)
            await scheduler.drain()  # t=60: the walk and c2; c1 is not asked
            assert schedule(scheduler) == {
                ("walk", ""): (120.0, 0),
                ("state", "c1"): (90.0, 2),
                ("state", "c2"): (90.0, 0),
            }
            clock.advance(30)
            await scheduler.drain()
            assert schedule(scheduler) == {
                ("walk", ""): (120.0, 0),
                ("state", "c1"): (210.0, 3),  # 90 + 120
                ("state", "c2"): (120.0, 0),
            }
            assert vendor.reads() == [
                (0.0, "state", "c1"),
                (0.0, "state", "c2"),
                (0.0, "walk", ""),
                (30.0, "state", "c1"),
                (30.0, "state", "c2"),
                (60.0, "state", "c2"),
                (60.0, "walk", ""),
                (90.0, "state", "c1"),
                (90.0, "state", "c2"),
            ]
            assert scheduler.ledger.entries["c2"].snapshot.reads == 4
            assert "c1" not in scheduler.ledger.entries
            assert scheduler.telemetry.sources["t"].up, "one campaign failing is not the source"
            # once it answers, c1 is back on its interval
            vendor.failing.clear()
            clock.advance(120)
            await scheduler.drain()  # t=210
            assert schedule(scheduler)[("state", "c1")] == (240.0, 0)
        finally:
            await client.aclose()


# -- the dispatchers running, on held time --------------------------------------------


@dataclass
class Run:
    """A ticker's scheduler running (``Scheduler.run``) on a held clock."""

    vendor: Vendor
    clock: HeldClock
    telemetry: Telemetry
    store: CountingStore
    scheduler: Scheduler

    @property
    def entries(self) -> dict[str, Entry[Tick]]:
        return self.scheduler.ledger.entries

    def read(self, cid: str) -> Callable[[], bool]:
        """Whether ``cid`` has been read (is in the books)."""
        return lambda: cid in self.entries

    async def until(self, check: Callable[[], bool], what: str) -> None:
        await self.vendor.signal.until(check, what)

    async def at(self, mono: float, check: Callable[[], bool], what: str) -> None:
        """Time to ``mono``, then until ``check`` holds."""
        self.clock.to(mono)
        await self.until(check, f"{what} at t={mono:g}")


@contextlib.asynccontextmanager
async def running(
    vendor: Vendor, publish_every: float | None = None, **config: Any
) -> AsyncIterator[Run]:
    """A ticker's scheduler running on a held clock, its upstream ``vendor`` served on
    loopback for as long as it runs."""
    async with serving(vendor) as url:
        clock = HeldClock(vendor.signal)
        cfg = ticker_config(url, **config)
        telemetry = WatchedTelemetry(vendor.signal, clock)
        telemetry.register(cfg.name, cfg.type, cfg.poll_interval)
        client = UpstreamClient(
            cfg.name,
            telemetry,
            timeout=5,
            concurrency=cfg.concurrency,
            rate_limits=cfg.rate_limits,
            clock=clock,
        )
        source = TickerSource(cfg, client, vendor)
        ledger: Ledger[Tick] = Ledger(source, clock=clock)
        store = CountingStore(telemetry, clock)
        if publish_every is None:  # the default window
            scheduler = Scheduler(source, ledger, store, telemetry, clock)
        else:
            scheduler = Scheduler(
                source, ledger, store, telemetry, clock, publish_every=publish_every
            )
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(scheduler.run)
                yield Run(vendor, clock, telemetry, store, scheduler)
                tg.cancel_scope.cancel()
        finally:
            await client.aclose()


# -- 2. each endpoint class spends its own budget --------------------------------------


async def test_a_throttled_class_never_holds_up_another() -> None:
    """Analytics at 1 request/s with four report reads due; the campaigns class (no limit)
    sends all its reads at once meanwhile, and again when they come round."""
    vendor = Vendor(Signal(), listing=["c0", "c1", "c2", "c3"], reports=True, repeat={"state"})
    limits = {ANALYTICS: {"requests_per_second": 1, "burst": 1}}
    async with running(vendor, publish_every=0.0, rate_limits=limits) as run:
        await run.until(
            lambda: len(vendor.reads("state")) == 4 and len(vendor.reads("report")) == 1,
            "every state read and one report at t=0",
        )
        assert vendor.reads() == [
            (0.0, "report", "c0"),
            (0.0, "state", "c0"),
            (0.0, "state", "c1"),
            (0.0, "state", "c2"),
            (0.0, "state", "c3"),
            (0.0, "walk", ""),
        ]
        # the three reports left wait for the analytics budget: detail reads due
        assert samples(run.telemetry, "campaign_exporter_source_reads_due") == {
            "active": 0.0,
            "unread": 0.0,
            "detail": 3.0,
            "settling": 0.0,
            "idle": 0.0,
        }
        await run.at(1.0, lambda: len(vendor.reads("report")) == 2, "the second report")
        # the campaigns' next reads come round at 30 and go at once; analytics has
        # earned one more slot only
        await run.at(
            30.0,
            lambda: len(vendor.reads("state")) == 8 and len(vendor.reads("report")) == 3,
            "every state read again and a third report",
        )
        assert vendor.reads("state", "report") == [
            (0.0, "report", "c0"),
            (0.0, "state", "c0"),
            (0.0, "state", "c1"),
            (0.0, "state", "c2"),
            (0.0, "state", "c3"),
            (1.0, "report", "c1"),
            (30.0, "report", "c2"),
            (30.0, "state", "c0"),
            (30.0, "state", "c1"),
            (30.0, "state", "c2"),
            (30.0, "state", "c3"),
        ]
        assert samples(run.telemetry, "campaign_exporter_source_reads_due")["detail"] == 1.0


# -- 4. degradation: more due than the budget sends -----------------------------------


async def test_the_backlog_gauges_show_what_the_budget_leaves_waiting() -> None:
    """Campaigns at 1 request/s: a walk lists six campaigns, whose first reads then go one
    a second. While some are still unread, a running campaign is read again at 1.75 times
    its 30 s cadence, so that the budget reads the unread meanwhile; once due, it still goes
    before them."""
    vendor = Vendor(Signal(), listing=[f"c{i}" for i in range(6)], repeat={"state"})
    limits = {CAMPAIGNS: {"requests_per_second": 1, "burst": 1}}
    async with running(vendor, publish_every=0.0, poll_interval="60s", rate_limits=limits) as run:
        # the walk at 0 has landed: the first reads wait for the budget (the next slot at 1)
        await run.until(lambda: run.clock.sleeping_until(1.0), "the walk at t=0")
        for t, cid in ((1.0, "c0"), (2.0, "c1"), (3.0, "c2")):
            await run.at(t, run.read(cid), f"{cid}'s first read")
        assert samples(run.telemetry, "campaign_exporter_source_reads_due") == {
            "active": 0.0,
            "unread": 3.0,  # c3, c4, c5, due since 0
            "detail": 0.0,
            "settling": 0.0,
            "idle": 0.0,
        }
        assert samples(run.telemetry, "campaign_exporter_source_reads_oldest_wait_seconds") == {
            "active": 0.0,
            "unread": 3.0,
            "detail": 0.0,
            "settling": 0.0,
            "idle": 0.0,
        }
        assert samples(run.telemetry, "campaign_exporter_source_running_state_age_seconds") == {
            "t": 2.0  # c0, read at 1
        }
        assert samples(run.telemetry, "campaign_exporter_source_campaigns_unread") == {"t": 3.0}
        # 30 s on, the budget has one slot (its burst). c0, c1 and c2 are not due before
        # 53.5, 54.5 and 55.5 (read at 1, 2, 3, then 52.5 s): an unread one goes
        await run.at(33.0, run.read("c3"), "c3's first read")
        assert samples(run.telemetry, "campaign_exporter_source_reads_due") == {
            "active": 0.0,
            "unread": 2.0,  # c4, c5
            "detail": 0.0,
            "settling": 0.0,
            "idle": 0.0,
        }
        assert samples(run.telemetry, "campaign_exporter_source_reads_oldest_wait_seconds") == {
            "active": 0.0,
            "unread": 33.0,
            "detail": 0.0,
            "settling": 0.0,
            "idle": 0.0,
        }
        assert samples(run.telemetry, "campaign_exporter_source_campaigns_unread") == {"t": 2.0}
        # at 54 c0 is due: the most urgent, before c4 and c5 (due since 0)
        await run.at(54.0, lambda: run.entries["c0"].updated_at == WALL + 54, "c0's second read")
        assert samples(run.telemetry, "campaign_exporter_source_reads_due") == {
            "active": 0.0,  # c1 is due at 54.5
            "unread": 2.0,
            "detail": 0.0,
            "settling": 0.0,
            "idle": 0.0,
        }
        assert samples(run.telemetry, "campaign_exporter_source_running_state_age_seconds") == {
            "t": 52.0  # c1, read at 2: within two poll intervals of its cadence
        }
        assert vendor.reads() == [
            (0.0, "walk", ""),
            (1.0, "state", "c0"),
            (2.0, "state", "c1"),
            (3.0, "state", "c2"),
            (33.0, "state", "c3"),
            (54.0, "state", "c0"),
        ]


# -- 5. publications coalesced --------------------------------------------------------


async def test_reads_landing_within_a_second_make_one_publication() -> None:
    """The default window: a read at 0 is published at once; those at 0.25, 0.5 and 0.75
    together at 1; one at 2.5, past the window, at once."""
    dues = {"c0": 0.0, "c1": 0.25, "c2": 0.5, "c3": 0.75, "c4": 2.5}
    vendor = Vendor(Signal(), first=[state(cid, due) for cid, due in dues.items()])
    async with running(vendor) as run:
        assert run.scheduler.publish_every == 1.0
        await run.until(lambda: len(run.store.updates) == 1, "the first publication")
        for t, cid in ((0.25, "c1"), (0.5, "c2"), (0.75, "c3")):
            await run.at(t, run.read(cid), f"{cid} read")
        assert run.store.updates == [(0.0, ["c0"])]
        await run.at(1.0, lambda: len(run.store.updates) >= 2, "the coalesced publication")
        assert run.store.updates == [(0.0, ["c0"]), (1.0, ["c1", "c2", "c3"])]
        await run.at(2.5, lambda: len(run.store.updates) >= 3, "the publication of c4")
        assert run.store.updates == [(0.0, ["c0"]), (1.0, ["c1", "c2", "c3"]), (2.5, ["c4"])]
        assert run.telemetry.publications == 3


async def test_a_50ms_window_publishes_every_50ms_at_most() -> None:
    dues = {"c0": 0.0, "c1": 0.01, "c2": 0.03, "c3": 0.2}
    vendor = Vendor(Signal(), first=[state(cid, due) for cid, due in dues.items()])
    async with running(vendor, publish_every=0.05) as run:
        await run.until(lambda: len(run.store.updates) == 1, "the first publication")
        for t, cid in ((0.01, "c1"), (0.03, "c2")):
            await run.at(t, run.read(cid), f"{cid} read")
        run.clock.to(0.045)
        assert run.store.updates == [(0.0, ["c0"])]
        await run.at(0.05, lambda: len(run.store.updates) >= 2, "the coalesced publication")
        assert run.store.updates == [(0.0, ["c0"]), (0.05, ["c1", "c2"])]
        await run.at(0.2, lambda: len(run.store.updates) >= 3, "the publication of c3")
        assert run.store.updates == [(0.0, ["c0"]), (0.05, ["c1", "c2"]), (0.2, ["c3"])]


# -- 6. a reload keeps the books of the same source -----------------------------------


def ticker_kind(vendor: Vendor) -> SourceKind[TickerConfig]:
    """The ticker as a registered kind: its clients are the kind's own (real HTTP), its
    sources told what to read by ``vendor``."""

    def create(config: TickerConfig, client: UpstreamClient) -> Source[TickerConfig, Any]:
        return TickerSource(config, client, vendor)

    return SourceKind("ticker", TickerConfig, create, Display("reads", "none"), no_error_fields)


def ticker_fleet_config(base_url: str, **overrides: Any) -> Config:
    raw: dict[str, Any] = {
        "name": "t",
        "type": "ticker",
        "base_url": base_url,
        "poll_interval": "60s",
        "timeout": "5s",
    }
    raw.update(overrides)
    return parse_config({"sources": [raw]})


async def test_a_reload_keeps_the_books_and_the_pace_unless_base_url_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    signal = Signal()
    vendor = Vendor(signal, listing=["c1", "c2"], throttle_first=True)
    monkeypatch.setitem(SOURCE_KINDS, "ticker", ticker_kind(vendor))
    clock = HeldClock(signal)
    telemetry = WatchedTelemetry(signal, clock)
    store = ExpositionStore(telemetry)
    pace_family = "campaign_exporter_upstream_pace_requests_per_second"

    def exposition() -> str:
        return store.build(openmetrics=False, gzip=False).body.decode()

    # two upstreams answering alike, told apart by the Host each call names (its port)
    async with serving(vendor) as ticker, serving(vendor) as other:
        ticker_host, other_host = ticker.removeprefix("http://"), other.removeprefix("http://")
        assert ticker_host != other_host
        async with anyio.create_task_group() as tg:
            fleet = Fleet(store, telemetry, tg, Shard(), clock, publish_every=0.0)
            await fleet.apply(ticker_fleet_config(ticker))
            first = fleet.running["t"].scheduler
            # t=0: the walk draws a 429, then lists c1 and c2; the class's pace is now 0.9/s
            await signal.until(lambda: len(vendor.reads("walk")) == 1, "the first walk")
            pace = first.source.client.paces[CAMPAIGNS]
            assert pace.rate == 0.9
            # c1's read waits for the class's next slot, 1/0.9 s after the walk's retry ...
            await signal.until(lambda: clock.sleeping_until(1 / 0.9), "c1 to wait for the pace")
            assert first.ledger.entries == {}
            clock.to(5.0)  # ... and goes once woken, at 5; c2's slot is due by then too
            await signal.until(lambda: {"c1", "c2"} <= first.ledger.entries.keys(), "c1 and c2")
            assert vendor.performed == [
                (0.0, "walk", "", Urgency.ACTIVE),
                (5.0, "state", "c1", Urgency.UNREAD),
                (5.0, "state", "c2", Urgency.UNREAD),
            ]
            books = {cid: (e.first_seen, e.updated_at) for cid, e in first.ledger.entries.items()}
            assert books == {"c1": (WALL + 5, WALL + 5), "c2": (WALL + 5, WALL + 5)}
            await signal.until(lambda: "ticker_campaign_reads{" in exposition(), "c1 published")

            # a new interval and metric selection: the same books, queue and pace
            clock.to(20.0)
            before = len(vendor.performed)
            await fleet.apply(
                ticker_fleet_config(
                    ticker, poll_interval="30s", metrics={"exclude": ["ticker_campaign_reads"]}
                )
            )
            second = fleet.running["t"].scheduler
            assert second is not first and second.source.client is not first.source.client
            assert second.ledger is first.ledger
            assert second.source.client.paces[CAMPAIGNS] is pace and pace.rate == 0.9
            assert samples(telemetry, pace_family) == {CAMPAIGNS: 0.9}
            await signal.until(
                lambda: (
                    len(vendor.reads("walk")) == 2 and "ticker_campaign_reads{" not in exposition()
                ),
                "the walk after the reload, and the new selection published",
            )
            assert vendor.performed[before:] == [(20.0, "walk", "", Urgency.ACTIVE)], "none unread"
            books = {cid: (e.first_seen, e.updated_at) for cid, e in second.ledger.entries.items()}
            assert books == {"c1": (WALL + 5, WALL + 5), "c2": (WALL + 5, WALL + 5)}
            assert second.queue.reads[("walk", "")].due == 50.0, "the new poll_interval"
            assert 'ticker_campaign_up{source="t",campaign_id="c1"} 1' in exposition()

            # another base_url is another upstream: empty books, nothing learned
            clock.to(30.0)
            before = len(vendor.performed)
            await fleet.apply(ticker_fleet_config(other))
            third = fleet.running["t"].scheduler
            assert third.ledger is not first.ledger and third.ledger.entries == {}
            assert third.source.client.paces == {}
            await signal.until(lambda: {"c1", "c2"} <= third.ledger.entries.keys(), "c1 and c2")
            assert sorted(vendor.performed[before:]) == [
                (30.0, "state", "c1", Urgency.UNREAD),
                (30.0, "state", "c2", Urgency.UNREAD),
                (30.0, "walk", "", Urgency.ACTIVE),
            ]
            books = {cid: (e.first_seen, e.updated_at) for cid, e in third.ledger.entries.items()}
            assert books == {"c1": (WALL + 30, WALL + 30), "c2": (WALL + 30, WALL + 30)}
            # the 429, its retry and the walk after the first reload went to the one
            # upstream; the walk after the second, to the other
            assert vendor.hosts == [ticker_host, ticker_host, ticker_host, other_host]
            assert third.source.client.paces[CAMPAIGNS].rate is None
            await fleet.stop_all()
            tg.cancel_scope.cancel()


@contextlib.asynccontextmanager
async def fleet_on_books(
    signal: Signal, directory: Path, config: Config
) -> AsyncIterator[tuple[Fleet, HeldClock, Telemetry]]:
    """A run of one process: its own clock, telemetry and client, on the books' file in
    ``directory``; stopped and the file closed after."""
    clock = HeldClock(signal)
    telemetry = WatchedTelemetry(signal, clock)
    books = Storage.open(directory, clock)
    try:
        async with anyio.create_task_group() as tg:
            fleet = Fleet(
                ExpositionStore(telemetry), telemetry, tg, Shard(), clock, 0.0, storage=books
            )
            await fleet.apply(config)
            yield fleet, clock, telemetry
            await fleet.stop_all()
            tg.cancel_scope.cancel()
    finally:
        books.close()


async def test_a_restart_on_the_same_books_goes_on_at_the_learned_pace(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The pace learned from a 429 is kept with the books: the next run starts at it, not
    unlimited, so it does not draw a 429 again to learn what it knew."""
    signal = Signal()
    vendor = Vendor(signal, listing=["c1", "c2"], throttle_first=True)
    monkeypatch.setitem(SOURCE_KINDS, "ticker", ticker_kind(vendor))
    pace_family = "campaign_exporter_upstream_pace_requests_per_second"
    async with serving(vendor) as ticker:
        config = ticker_fleet_config(ticker)
        async with fleet_on_books(signal, tmp_path, config) as (fleet, clock, _):
            first = fleet.running["t"].scheduler
            await signal.until(lambda: len(vendor.reads("walk")) == 1, "the first walk")
            assert first.source.client.paces[CAMPAIGNS].rate == 0.9  # from the 429
            await signal.until(lambda: clock.sleeping_until(1 / 0.9), "c1 to wait for the pace")
            clock.to(5.0)
            await signal.until(lambda: {"c1", "c2"} <= first.ledger.entries.keys(), "c1 and c2")
        # the next run: a new process's telemetry and client, the same file
        async with fleet_on_books(signal, tmp_path, config) as (fleet, _, telemetry):
            pace = fleet.running["t"].scheduler.source.client.paces[CAMPAIGNS]
            assert (pace.rate, pace.ceiling, pace.measured) == (0.9, math.inf, False)
            assert samples(telemetry, pace_family) == {CAMPAIGNS: 0.9}  # before any read
