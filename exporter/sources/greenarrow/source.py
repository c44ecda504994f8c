"""Reads GreenArrow's system-campaigns report by start window: UTC-aligned windows, each a
read of its own, the newest every poll interval, the others by how urgent the campaigns
they last held are. A window's campaigns are published as it lands; a campaign leaves
only once every window has been walked without it."""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from ...books.ledger import Book, Entry
from ...books.reads import Listing, Outcome, Read, Urgency
from ...books.reasons import ErrorReason
from ...exposition.render import MetricFamily
from ...upstream.auth import AuthError, AuthProvider, BasicAuthProvider, StaticAuth
from ...upstream.client import UpstreamClient
from ...upstream.failures import UpstreamError
from ..base import CampaignRow, Source, SourceError, campaign_urgency
from ..failure_digest import FailureDigest
from ..fetch import authorized_get, parse_body
from ..paging import PageFaults, max_pages, read_forward
from .config import GreenArrowConfig
from .metrics import READ_TIME, render_campaigns, render_totals
from .model import (
    TERMINAL_STATES,
    GACampaignSnapshot,
    ReportPage,
    parse_page,
)

log = logging.getLogger("campaign_exporter.greenarrow")
PATH = "/ga/api/v2/system_campaigns"  # always v2: an unversioned path is served by v1
ENDPOINT = "system_campaigns"


Window = tuple[float, float | None]  # (start, end); end None: open, the newest


@dataclass
class WindowList:
    """What the last read of one window found, newest first, and whether it was clean."""

    found: list[tuple[str, str | None]]  # (id, state)
    clean: bool
    left_out: int = 0  # past the cap


class GreenArrowSource(Source[GreenArrowConfig, GACampaignSnapshot]):
    terminal_states = TERMINAL_STATES
    active_states = frozenset({"sending"})
    read_time_family = READ_TIME

    def __init__(self, config: GreenArrowConfig, client: UpstreamClient) -> None:
        super().__init__(config, client)
        self.auth: AuthProvider
        if config.basic_auth is not None:
            self.auth = BasicAuthProvider(config.basic_auth.username, config.basic_auth.secret())
        else:
            assert config.authorization is not None
            self.auth = StaticAuth("Basic", config.authorization.secret())
        self.digest = FailureDigest(self.name, config.poll_interval)
        self.windows: list[Window] = []  # the current alignment's, newest first
        self.lists: dict[int, WindowList] = {}  # by position, of the current alignment
        self.left_out = 0  # past the cap, in the window walked last

    def state_of(self, snapshot: GACampaignSnapshot) -> str | None:
        return snapshot.state

    def render(self, entries: Sequence[Entry[GACampaignSnapshot]]) -> list[MetricFamily]:
        return render_campaigns(self.name, entries)

    def totals(self, by_state: Mapping[str | None, int]) -> list[MetricFamily]:
        return render_totals(self.name, by_state)

    def row(self, entry: Entry[GACampaignSnapshot]) -> CampaignRow:
        snap = entry.snapshot
        sent = snap.stats.get("sent", {})
        total, bounced = sent.get("total"), sent.get("bounced")
        return CampaignRow(
            campaign_id=snap.campaign_id,
            name=snap.name or "",
            state=snap.state or "unknown",
            done=total,
            total=snap.stats.get("recipients", {}).get("total"),
            failure_ratio=bounced / total if total and bounced is not None else None,
            updated_at=entry.updated_at,
            error=entry.error,
            paused=bool(snap.paused),
            channel="email",  # GreenArrow sends email only
            finished_at=entry.finished_at,
            ratio_base=total,
            state_since=entry.state_since,
            first_seen=entry.first_seen,
            times_learned=True,  # the report has no timestamps
        )

    # -- which reads, when ----------------------------------------------------------------

    def first_reads(self, book: Book[GACampaignSnapshot]) -> list[Read]:
        self.windows = start_windows(book.now(), self.config.lookback)
        return [self._first_read(i, book.monotonic()) for i in range(len(self.windows))]

    def _first_read(self, position: int, due: float) -> Read:
        """A window's read when nothing is known of what it holds: the newest every
        interval; the others as campaigns not read yet."""
        urgency = Urgency.ACTIVE if position == 0 else Urgency.UNREAD
        return self._read(position, urgency, due)

    def _read(self, position: int, urgency: Urgency, due: float) -> Read:
        """The read of the window at ``position`` (0: the newest): each hour's windows are
        other times but the same reads. The last week's windows are read every poll
        interval: their campaigns' stats still move (bounces, complaints come late, and
        the deliverability alerts look a week back); older ones by ``polling``."""
        interval = self.config.poll_interval
        if position >= len(WINDOW_EDGES) and self.config.polling.adaptive:
            plan = self.config.polling
            interval = {
                Urgency.SETTLING: plan.settle_interval,
                Urgency.IDLE: plan.idle_interval,
            }.get(urgency, interval)
        return Read(
            "window",
            str(position),
            urgency=urgency,
            due=due,
            interval=max(interval, self.config.poll_interval),
            rank=position,
            walk=position == 0,
            campaign=False,
        )

    def _urgency(
        self, found: list[tuple[str, str | None]], book: Book[GACampaignSnapshot]
    ) -> Urgency:
        """The most urgent of the campaigns a window held."""
        plan, now = self.config.polling, book.now()
        most = Urgency.IDLE
        for cid, state in found:
            entry = book.get(cid)
            finished = entry.finished_at if entry else None
            urgency = campaign_urgency(
                state, finished, self.active_states, self.terminal_states, now, plan.settle_for
            )
            most = min(most, urgency)
        return most

    # -- reads ----------------------------------------------------------------------------

    async def perform(
        self, read: Read, book: Book[GACampaignSnapshot]
    ) -> Outcome[GACampaignSnapshot]:
        outcome: Outcome[GACampaignSnapshot] = Outcome()
        position = int(read.subject)
        current = start_windows(book.now(), self.config.lookback)
        if current != self.windows:  # a new hour: every window holds others now
            self.windows, self.lists = current, {}
            outcome.follow = [
                self._first_read(i, book.monotonic()) for i in range(len(current)) if i != position
            ]
        if position >= len(self.windows):
            return outcome
        window = self.windows[position]
        try:
            snaps = await self._walk(window, outcome)
        except SourceError as exc:
            outcome.failure = exc
            return outcome
        finally:
            self.digest.log_due(book.monotonic())
        found = [(snap.campaign_id, snap.state) for snap in snaps]
        clean = not outcome.errors[ErrorReason.MALFORMED]
        self.lists[position] = WindowList(found, clean, self.left_out)
        outcome.read = {snap.campaign_id: snap for snap in snaps}
        outcome.polled = len(snaps)
        outcome.listing = self._listing()
        urgency = Urgency.ACTIVE if position == 0 else self._urgency(found, book)
        again = self._read(position, urgency, book.monotonic())
        again.due += again.interval
        outcome.follow.append(again)
        return outcome

    def _listing(self) -> Listing:
        """Every window's campaigns, newest first; whole once each window of the hour has
        been walked (only then may a campaign missing from all of them go)."""
        lists = [self.lists[i] for i in range(len(self.windows)) if i in self.lists]
        entries = [pair for lst in lists for pair in lst.found]
        return Listing(
            entries,
            whole=len(lists) == len(self.windows),
            complete=all(lst.clean for lst in lists),
            left_out=sum(lst.left_out for lst in lists),
        )

    async def _walk(
        self, window: Window, outcome: Outcome[GACampaignSnapshot]
    ) -> list[GACampaignSnapshot]:
        """Every campaign of one start window, newest first, each marked with the start
        of its window: the report carries no timestamps, so the window a campaign was
        found in is all the exporter knows of when it started."""
        start, end = window
        params = {"started_at__start": _iso(start)}
        if end is not None:
            params["started_at__end"] = _iso(end)
        snaps = await self._walk_window(params, self.config.max_campaigns, outcome, self.digest)
        return [replace(snap, started_after=start) for snap in reversed(snaps)]

    async def _walk_window(
        self,
        window: dict[str, str],
        cap: int,
        outcome: Outcome[GACampaignSnapshot],
        digest: FailureDigest,
    ) -> list[GACampaignSnapshot]:
        """Every page of one start window, guarded: a short, empty or repeated page ends
        the walk; past the cap only the newest pages are read, and only once the claimed
        last page proves to exist; never more pages than the cap needs."""
        per_page = self.config.per_page
        params = {**window, "per_page": str(per_page)}
        limit = max_pages(cap, per_page)

        async def page(number: int) -> ReportPage:
            return await self._page({**params, "page": str(number)}, outcome, digest)

        first = await page(0)
        claimed = _claimed_pages(first, per_page)
        pages = [first]
        if claimed is not None and claimed > limit:
            # Sorted oldest first: past the cap, read only the newest pages.
            last = await page(claimed - 1)
            if last.size:
                pages = [await page(n) for n in range(claimed - limit, claimed - 1)]
                pages.append(last)
                left_out = (claimed - 1) * per_page + last.size - cap
            else:
                claimed = None  # the claimed last page is empty: walk from the start
        if claimed is None or claimed <= limit:
            pages = await self._walk_forward(first, page, claimed, limit, outcome)
            left_out = 0
        found = [snap for p in pages for snap in p.items]
        self.left_out = max(0, left_out, len(found) - cap)
        return found[-cap:]

    async def _walk_forward(
        self,
        first: ReportPage,
        page: Callable[[int], Awaitable[ReportPage]],
        claimed: int | None,
        limit: int,
        outcome: Outcome[GACampaignSnapshot],
    ) -> list[ReportPage]:
        """From the first page on, to the claimed last (at most ``limit`` pages)."""
        per_page = self.config.per_page
        entries = None if claimed is None else claimed * per_page
        run = await read_forward(page, per_page, limit, first=first, claimed=lambda _: entries)
        if run.repeated is not None:
            outcome.errors[ErrorReason.MALFORMED] += 1  # the rest could not be read
            log.warning(
                "report page repeats the one before it; walk stopped",
                extra={"kv": {"source": self.name, "page": len(run.pages)}},
            )
        return run.pages

    async def _page(
        self,
        params: dict[str, str],
        outcome: Outcome[GACampaignSnapshot],
        digest: FailureDigest,
    ) -> ReportPage:
        """One page; any failure fails the window's read (a partial window is not landed)."""
        url = self.config.base_url + PATH
        try:
            resp = await authorized_get(self.client, self.auth, url, ENDPOINT, params=params)
            result = parse_body(
                resp,
                ENDPOINT,
                functools.partial(parse_page, per_page=self.config.per_page),
                outcome.errors,
            )
        except AuthError as exc:
            raise SourceError(str(exc), "auth") from None
        except UpstreamError as exc:
            raise _failure(exc.reason, exc.detail, exc.correlation_id) from None
        faults = PageFaults()
        faults.add(result)
        faults.count(outcome, digest, ENDPOINT, "per_page", resp.correlation_id)
        return result


# Edges of the start windows, newest first (then the lookback): a day and a week are what
# the alerts ask ("failed in the last day", "started in the last week").
WINDOW_EDGES = (86400.0, 7 * 86400.0)
ALIGN = 3600.0  # windows start on the UTC hour, so a window's pages hold still for an hour


def start_windows(now: float, lookback: float) -> list[Window]:
    """``(start, end)`` of each window of the lookback, newest first (``end`` None: open),
    back from the last full UTC hour: the same windows all hour long, not relative to now
    (an edge is at most an hour older than the same edge taken from now)."""
    hour = math.floor(now / ALIGN) * ALIGN
    windows: list[Window] = []
    end: float | None = None
    for edge in [e for e in WINDOW_EDGES if e < lookback] + [lookback]:
        windows.append((hour - edge, end))
        end = hour - edge
    return windows


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _claimed_pages(first: ReportPage, per_page: int) -> int | None:
    """``num_pages`` when the first page and ``num_records`` agree with it."""
    claimed = first.num_pages
    if claimed is None or first.size < per_page:
        return None if claimed is None else 1
    if first.num_records is not None and claimed != math.ceil(first.num_records / per_page):
        return None
    return claimed


def _failure(reason: str, detail: str, correlation_id: str | None) -> SourceError:
    if reason == "auth":
        return SourceError(f"GreenArrow refused the credentials ({detail})", reason, correlation_id)
    return SourceError(f"system campaigns request failed ({detail})", reason, correlation_id)
