"""The source contract: what the ledger promises for every source kind, run against both
real sources (on the simulator) and a third, test-only vendor defined here.

The third kind proves the README's claim that a new upstream is one module plus one
registration: it lives in this file, is registered with one line, and passes the same
cases, status page included.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
from aiohttp import web

from exporter.books.ledger import Book, Entry, Ledger
from exporter.books.reads import Listing, Outcome, Read, RefreshReport
from exporter.books.reasons import ErrorReason, SkipReason
from exporter.books.records import entries as storage_entries
from exporter.books.records import source_key
from exporter.books.shard import Shard
from exporter.books.storage import Storage
from exporter.clock import ManualClock
from exporter.config.loader import parse_config
from exporter.config.schema import SourceConfig
from exporter.config.types import HttpUrl
from exporter.exposition.render import MetricFamily, assemble, pre_render
from exporter.exposition.store import ExpositionStore
from exporter.http.statuspage import render_status_page
from exporter.run.scheduler import Scheduler
from exporter.simulator import Simulator
from exporter.simulator.faults import Fault
from exporter.sources import SOURCE_KINDS
from exporter.sources.base import CampaignRow, Display, Source, SourceError, SourceKind
from exporter.sources.fields import InvalidId, count, identifier, text
from exporter.telemetry import Telemetry
from exporter.upstream.failures import UpstreamError

from ..helpers import experiture_source, ga_source, running_simulator, serving_vendor

pytestmark = pytest.mark.anyio
DAY = 86400.0

# -- a third vendor, test-only: one module's worth of code ----------------------------


@dataclass(frozen=True)
class ParcelSnapshot:
    campaign_id: str
    name: str | None
    state: str | None
    delivered: int | None


class ParcelConfig(SourceConfig):
    type: Literal["parcel"]
    base_url: HttpUrl


class ParcelSource(Source[ParcelConfig, ParcelSnapshot]):
    """Parcel Post's campaign list: ``GET /campaigns`` answers every campaign at once."""

    terminal_states = frozenset({"delivered", "lost"})

    async def perform(self, read: Read, book: Book[ParcelSnapshot]) -> Outcome[ParcelSnapshot]:
        refresh: Outcome[ParcelSnapshot] = Outcome()
        refresh.follow.append(self.walk_read(book.monotonic() + self.config.poll_interval))
        try:
            resp = await self.client.request(
                "GET", self.config.base_url + "/campaigns", "campaigns"
            )
        except UpstreamError as exc:
            refresh.failure = SourceError(str(exc), exc.reason)
            return refresh
        entries = resp.body.get("campaigns") if isinstance(resp.body, dict) else None
        if not isinstance(entries, list):
            refresh.errors[ErrorReason.MALFORMED] += 1
            refresh.failure = SourceError("campaigns is not a list", ErrorReason.MALFORMED)
            return refresh
        found: dict[str, ParcelSnapshot] = {}
        complete = True
        for raw in entries:
            try:
                cid = identifier(raw, "id")
            except InvalidId:
                cid = None
            if cid is None:
                refresh.errors[ErrorReason.MALFORMED] += 1
                complete = False
                continue
            found[cid] = ParcelSnapshot(
                cid, text(raw, "name"), text(raw, "state"), count(raw, "delivered")
            )
        refresh.listing = Listing(
            [(cid, snap.state) for cid, snap in found.items()], complete=complete
        )
        refresh.read = found
        refresh.polled = len(found)
        return refresh

    def state_of(self, snapshot: ParcelSnapshot) -> str | None:
        return snapshot.state

    def render(self, entries: Sequence[Entry[ParcelSnapshot]]) -> list[MetricFamily]:
        fam = MetricFamily(
            "parcel_campaign_delivered", "gauge", "Parcels delivered.", ("source", "campaign_id")
        )
        for e in entries:
            if e.snapshot.delivered is not None:
                fam.add((self.name, e.campaign_id), e.snapshot.delivered)
        return [fam]

    def row(self, entry: Entry[ParcelSnapshot]) -> CampaignRow:
        snap = entry.snapshot
        return CampaignRow(
            snap.campaign_id,
            snap.name or "",
            snap.state or "unknown",
            snap.delivered,
            None,
            None,
            entry.updated_at,
            entry.error,
        )


def _parcel_errors(body: Any) -> tuple[str | None, str, str | None]:
    return text(body, "fault"), text(body, "detail") or "", None


PARCEL = SourceKind(
    "parcel",
    ParcelConfig,
    ParcelSource,
    display=Display("parcels delivered / sent", "lost / sent", state_rank={"lost": 0}),
    error_fields=_parcel_errors,
)


@dataclass
class ParcelVendor:
    """Parcel Post's API on loopback: ``campaigns`` is what it lists."""

    campaigns: dict[str, dict[str, Any]] = field(default_factory=dict)
    broken: bool = False
    extra: list[Any] = field(default_factory=list)

    async def answer(self, request: web.Request) -> web.StreamResponse:
        if self.broken:
            return web.Response(body=b'{"campaigns": [', content_type="application/json")
        return web.json_response({"campaigns": [*self.campaigns.values(), *self.extra]})


# -- one driver per kind: how a case starts the vendor and changes what it says -------


class Driver:
    kind: str
    url: str
    tells_finish_time = False  # the vendor's answers say when a campaign finished
    listing_reads_campaigns = True  # a campaign's data comes with the listing

    def config(self, **overrides: Any) -> dict[str, Any]:
        raise NotImplementedError

    def listed(self) -> set[str]:
        """Every campaign the vendor lists now that the source should export."""
        raise NotImplementedError

    def listing_size(self) -> int:
        """Campaigns the listing shows, exportable or not (a cap counts them all)."""
        return len(self.listed())

    def finished_before(self, cutoff: float) -> set[str]:
        raise NotImplementedError

    def change_state(self) -> str:
        """Move one listed campaign to another state; its id."""
        raise NotImplementedError

    def break_listing(self) -> None:
        """The next listing answers with a body that cannot be read."""
        raise NotImplementedError

    def add_unreadable_entries(self) -> None:
        """The listing gains entries that cannot be read, and stops showing a campaign the
        source knows (it may be one of the unreadable ones)."""
        raise NotImplementedError

    def now(self) -> float:
        raise NotImplementedError


class ExperitureDriver(Driver):
    kind = "experiture"
    tells_finish_time = True  # lastExecution.completedAt
    listing_reads_campaigns = False  # /status, /metrics and /summary of each

    def __init__(self, sim: Simulator, url: str) -> None:
        self.sim, self.url = sim, url

    def config(self, **overrides: Any) -> dict[str, Any]:
        return experiture_source(self.url, name="c", **overrides)

    def _truth(self) -> list[dict[str, Any]]:
        return [
            c
            for c in self.sim.experiture.truth(self.now())
            if c["authoring_status"] == "published" and c["campaign_type"] == "broadcast"
        ]

    def listed(self) -> set[str]:
        return {c["campaign_id"] for c in self._truth()}

    def listing_size(self) -> int:
        truth = self.sim.experiture.truth(self.now())
        return len([c for c in truth if c["authoring_status"] == "published"])

    def finished_before(self, cutoff: float) -> set[str]:
        return {
            c["campaign_id"]
            for c in self._truth()
            if c["state"] in ("completed", "failed") and c["completed_at"] < cutoff
        }

    def change_state(self) -> str:
        running = next(c for c in self._truth() if c["state"] == "running")
        self.sim.experiture.fail(running["campaign_id"], self.now())
        return str(running["campaign_id"])

    def break_listing(self) -> None:
        self.sim.faults.add(Fault(kind="malformed", api="experiture", endpoint="list"))

    def add_unreadable_entries(self) -> None:
        hidden = sorted(self.listed())[0]
        self.sim.experiture.campaigns[hidden].deleted = True
        self.sim.faults.add(Fault(kind="bad_ids", api="experiture", endpoint="list"))

    def now(self) -> float:
        return self.sim.clock.now()


class GreenArrowDriver(ExperitureDriver):
    kind = "greenarrow"
    tells_finish_time = False  # the report has no timestamps
    listing_reads_campaigns = True

    def config(self, **overrides: Any) -> dict[str, Any]:
        overrides.setdefault("retention", "365d")
        # ten a page: unreadable entries put first push listed campaigns off each page
        return ga_source(self.url, name="c", per_page=10, **overrides)

    def listed(self) -> set[str]:
        return {c["campaign_id"] for c in self.sim.greenarrow.truth(self.now())}

    def listing_size(self) -> int:
        return len(self.listed())

    def change_state(self) -> str:
        sending = {
            c["campaign_id"]
            for c in self.sim.greenarrow.truth(self.now())
            if c["state"] == "sending"
        }
        self.sim.clock.advance(30 * DAY)
        now = {c["campaign_id"]: c["state"] for c in self.sim.greenarrow.truth(self.now())}
        return str(next(cid for cid in sorted(sending) if now.get(cid) not in (None, "sending")))

    def break_listing(self) -> None:
        self.sim.faults.add(Fault(kind="malformed", api="greenarrow"))

    def add_unreadable_entries(self) -> None:
        self.sim.faults.add(Fault(kind="bad_ids", api="greenarrow"))


class ParcelDriver(Driver):
    kind = "parcel"

    def __init__(self, vendor: ParcelVendor, url: str, clock: float) -> None:
        self.vendor, self.url, self.clock = vendor, url, clock

    def config(self, **overrides: Any) -> dict[str, Any]:
        return {"name": "c", "type": "parcel", "base_url": self.url, **overrides}

    def listed(self) -> set[str]:
        return set(self.vendor.campaigns)

    def change_state(self) -> str:
        cid = next(iter(self.vendor.campaigns))
        self.vendor.campaigns[cid]["state"] = "lost"
        return cid

    def break_listing(self) -> None:
        self.vendor.broken = True

    def add_unreadable_entries(self) -> None:
        self.vendor.extra = [{"name": "no id"}, {"id": "../x"}]
        del self.vendor.campaigns["p3"]

    def now(self) -> float:
        return self.clock


@contextlib.asynccontextmanager
async def parcel_vendor() -> AsyncIterator[tuple[ParcelVendor, str]]:
    vendor = ParcelVendor(
        {
            f"p{i}": {"id": f"p{i}", "name": f"Parcel {i}", "state": "in_transit", "delivered": i}
            for i in range(12)
        }
    )
    async with serving_vendor(vendor.answer) as url:
        yield vendor, url


KINDS = ["experiture", "greenarrow", "parcel"]


@contextlib.asynccontextmanager
async def vendor(kind: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Driver]:
    monkeypatch.setitem(SOURCE_KINDS, "parcel", PARCEL)  # the one line a new kind needs
    if kind == "parcel":
        async with parcel_vendor() as (parcel, url):
            yield ParcelDriver(parcel, url, 1_800_000_000.0)
        return
    async with running_simulator(experiture_campaigns=60, greenarrow_campaigns=60) as (sim, url):
        yield ExperitureDriver(sim, url) if kind == "experiture" else GreenArrowDriver(sim, url)


@dataclass
class Books:
    """A source, its ledger and scheduler on a manual clock, and telemetry recording what
    they publish."""

    source: Source[Any, Any]
    ledger: Ledger[Any]
    scheduler: Scheduler
    clock: ManualClock
    telemetry: Telemetry
    name: str = "c"

    async def refresh(self) -> RefreshReport:
        """The next round: the clock to the next walk of the list (if it is not due yet),
        then every read due, and what those make due at once."""
        walk = min(r.due for r in self.scheduler.queue.reads.values() if r.walk)
        self.clock.advance(max(0.0, walk - self.clock.monotonic()))
        report = await self.scheduler.drain()
        assert report is not None, "a round ended"
        return report

    @property
    def ids(self) -> set[str]:
        return set(self.ledger.entries)

    def entry(self, cid: str) -> Entry[Any]:
        return self.ledger.entries[cid]

    def errors(self, reason: ErrorReason) -> float:
        return self.telemetry.upstream_errors.get((self.name, reason))

    def skipped(self, reason: SkipReason) -> float:
        return self.telemetry.campaigns_skipped.get((self.name, reason))


@contextlib.asynccontextmanager
async def books(
    driver: Driver, shard: Shard | None = None, **overrides: Any
) -> AsyncIterator[Books]:
    overrides.setdefault("poll_interval", "60s")  # each case steps the clock a minute
    cfg = parse_config({"sources": [driver.config(**overrides)]}).sources[0]
    kind = SOURCE_KINDS[cfg.type]
    telemetry = Telemetry()
    telemetry.register(cfg.name, cfg.type, cfg.poll_interval)
    client = kind.client(cfg, telemetry, timeout=5, concurrency=8, retries=False)
    clock = ManualClock(wall=driver.now())
    source = kind.create(cfg, client)
    ledger: Ledger[Any] = Ledger(source, shard=shard or Shard(), clock=clock)
    scheduler = Scheduler(source, ledger, ExpositionStore(telemetry), telemetry, clock)
    try:
        yield Books(source, ledger, scheduler, clock, telemetry)
    finally:
        await client.aclose()


@pytest.mark.parametrize("kind", KINDS)
async def test_every_listed_campaign_is_kept_and_reported(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with vendor(kind, monkeypatch) as driver, books(driver) as b:
        report = await b.refresh()
        assert report.failure is None
        assert b.ids == driver.listed()
        assert report.campaigns == len(driver.listed())
        assert report.polled == driver.listing_size()
        assert all(e.updated_at == b.clock.time() and e.error is None for e in b.ledger.current())


@pytest.mark.parametrize("kind", KINDS)
async def test_the_cap_keeps_max_campaigns_and_counts_the_rest(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with vendor(kind, monkeypatch) as driver, books(driver, max_campaigns=5) as b:
        await b.refresh()
        assert len(b.ids) == 5 and b.ids <= driver.listed()
        assert b.skipped(SkipReason.MAX_CAMPAIGNS) == driver.listing_size() - 5


@pytest.mark.parametrize("kind", KINDS)
async def test_shards_split_the_campaigns_exactly(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with vendor(kind, monkeypatch) as driver:
        owned = []
        for index in range(3):
            async with books(driver, shard=Shard(index, 3)) as b:
                await b.refresh()
                owned.append(b.ids)
        assert set().union(*owned) == driver.listed()
        assert sum(len(ids) for ids in owned) == len(driver.listed())
        assert all(owned), "every shard owns some of 12 or more campaigns"


@pytest.mark.parametrize("kind", KINDS)
async def test_finished_campaigns_retire_after_retention(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with vendor(kind, monkeypatch) as driver:
        if not driver.tells_finish_time:  # the ledger's own time it saw them finish
            driver.change_state()
            async with books(driver, retention="1d") as b:
                await b.refresh()
                terminal = {
                    e.campaign_id for e in b.ledger.current() if e.state in b.source.terminal_states
                }
                assert terminal
                b.clock.advance(DAY + 1)
                await b.refresh()
                assert b.ids == driver.listed() - terminal
                await b.refresh()
                assert b.skipped(SkipReason.RETIRED) == len(terminal)
            return
        old = driver.finished_before(driver.now() - DAY)
        assert old
        async with books(driver, retention="1d") as b:
            await b.refresh()
            assert not old & b.ids
            assert b.ids == driver.listed() - old
            await b.refresh()
            assert b.skipped(SkipReason.RETIRED) == len(old)


@pytest.mark.parametrize("kind", KINDS)
async def test_an_unreadable_listing_keeps_every_last_good_value(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with vendor(kind, monkeypatch) as driver, books(driver) as b:
        await b.refresh()
        before = {cid: b.entry(cid).updated_at for cid in b.ids}
        driver.break_listing()
        b.clock.advance(60)
        report = await b.refresh()
        assert report.failure is not None
        after = {cid: b.entry(cid).updated_at for cid in b.ids}
        assert after.keys() == before.keys()
        read = {cid for cid in after if after[cid] != before[cid]}
        if driver.listing_reads_campaigns:  # nothing was read: everything as it was
            assert not read
        else:  # campaigns are read on their own: the running ones were, as due
            running = {cid for cid in after if b.entry(cid).state == "running"}
            assert running and running <= read
            assert all(after[cid] == before[cid] + 60 for cid in read)
        assert b.errors(ErrorReason.MALFORMED) >= 1


@pytest.mark.parametrize("kind", KINDS)
async def test_unreadable_entries_are_counted_and_forget_nothing(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with vendor(kind, monkeypatch) as driver, books(driver) as b:
        await b.refresh()
        known = set(b.ids)
        driver.add_unreadable_entries()
        report = await b.refresh()
        assert report.failure is None
        assert b.ids == known
        assert b.errors(ErrorReason.MALFORMED) >= 1


@pytest.mark.parametrize("kind", KINDS)
async def test_the_time_a_campaign_entered_its_state_is_when_it_was_first_seen_so(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with vendor(kind, monkeypatch) as driver, books(driver) as b:
        await b.refresh()
        first = b.clock.time()
        assert all(e.state_since == first for e in b.ledger.current())
        b.clock.advance(60)
        await b.refresh()
        assert all(e.state_since == first for e in b.ledger.current())
        cid = driver.change_state()
        b.clock.advance(60)
        await b.refresh()
        assert b.entry(cid).state_since == first + 120
        others = [e for e in b.ledger.current() if e.campaign_id != cid]
        assert any(e.state_since == first for e in others)


async def test_a_third_kind_shows_on_the_status_page_as_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with vendor("parcel", monkeypatch) as driver, books(driver) as b:
        driver.change_state()
        await b.refresh()
        page = render_status_page(b.telemetry)
    assert "parcels delivered / sent" in page and "lost / sent" in page
    assert "sent / recipients" not in page and "failed / scheduled" not in page
    assert page.index("Parcel 0") < page.index("Parcel 1"), "lost ranks first"


@pytest.mark.parametrize("kind", KINDS)
async def test_a_campaign_is_first_seen_once_however_often_it_is_read(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``first_seen`` is the first read's time, through later reads and state changes."""
    async with vendor(kind, monkeypatch) as driver, books(driver) as b:
        await b.refresh()
        first, known = b.clock.time(), set(b.ids)
        assert all(e.first_seen == first for e in b.ledger.current())
        b.clock.advance(60)
        await b.refresh()
        cid = driver.change_state()
        b.clock.advance(60)
        await b.refresh()
        assert b.entry(cid).state_since == first + 120
        still = known & b.ids  # a vendor's clock step may start new campaigns, end others
        assert cid in still
        assert {b.entry(c).first_seen for c in still} == {first}


@pytest.mark.parametrize("kind", KINDS)
async def test_what_is_published_is_the_books_rendered_whole(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A campaign read again and found as it was publishes only its new read time; what
    is shown stays every campaign of the books rendered from scratch."""
    async with vendor(kind, monkeypatch) as driver, books(driver) as b:
        only_times = []
        render_read_time = b.source.render_read_time

        def spy(entry: Entry[Any]) -> list[MetricFamily] | None:
            families = render_read_time(entry)
            only_times.append(families is not None)
            return families

        monkeypatch.setattr(b.source, "render_read_time", spy)
        first = b.clock.time()
        await b.refresh()
        for step in range(3):
            b.clock.advance(60)
            if step == 1:
                driver.change_state()
            await b.refresh()
        shown = b.scheduler.store.build(False, False).body
        entries = list(b.ledger.entries.values())
        fams = b.source.render(entries) + b.source.totals(b.ledger.by_state())
        whole = assemble([pre_render(fams)], False)

    def samples(body: bytes) -> list[bytes]:
        return sorted(line for line in body.splitlines() if not line.startswith(b"#"))

    assert samples(shown) == samples(whole)
    assert any(e.updated_at >= first + 120 for e in entries), "campaigns were read again"
    # the test-only kind names no read-time family: it renders whole
    assert any(only_times) == (kind != "parcel") and only_times


@pytest.mark.parametrize("kind", KINDS)
async def test_the_books_come_back_from_storage_as_they_were(
    kind: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Every entry written to the books' file, then read by a new process's storage, is
    the same entry (its snapshot as stored: no monotonic times), first-seen times kept."""
    async with vendor(kind, monkeypatch) as driver, books(driver) as b:
        await b.refresh()
        b.clock.advance(60)
        await b.refresh()
        key = source_key(b.source.name, b.source.config.type, str(b.source.config.base_url))
        written = Storage.open(tmp_path, b.clock)
        current = {
            e.campaign_id: dataclasses.replace(e, snapshot=b.source.stored(e.snapshot))
            for e in b.ledger.current()
        }
        written.submit(key, {cid: (e, b.ledger.versions.get(cid)) for cid, e in current.items()})
        assert written.flush()
        written.close()
        read = Storage.open(tmp_path, b.clock)
        try:
            found, unreadable = storage_entries(read.load(key, 86400.0), b.source.snapshot_type())
        finally:
            read.close()
        assert unreadable == 0 and len(found) == len(current) > 0
        assert {e.campaign_id: e for e, _ in found} == current
        assert {e.campaign_id: v for e, v in found} == {
            cid: b.ledger.versions.get(cid) for cid in current
        }
        restored = Ledger(b.source, clock=b.clock)
        assert sorted(restored.restore(found)) == sorted(current)
        assert restored.unread == 0 and restored.by_state() == b.ledger.by_state()
