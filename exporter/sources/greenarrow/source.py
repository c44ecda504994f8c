"""Polls GreenArrow's system-campaigns report: one walk over its pages per refresh."""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from ...auth import AuthError, AuthProvider, BasicAuthProvider, StaticAuth
from ...exposition import MetricFamily
from ...ledger import Book, Entry, Refresh
from ...reasons import ErrorReason, SkipReason
from ...upstream import FailureDigest, UpstreamClient, UpstreamError
from ..base import CampaignRow, Source, SourceError
from .config import GreenArrowConfig
from .metrics import render_families
from .model import (
    TERMINAL_STATES,
    ApiError,
    GACampaignSnapshot,
    ParseError,
    ReportPage,
    parse_page,
)

log = logging.getLogger("campaign_exporter.greenarrow")
PATH = "/ga/api/v2/system_campaigns"  # always v2: an unversioned path is served by v1
ENDPOINT = "system_campaigns"
API_ERROR_REASONS = {"not_authorized": ErrorReason.AUTH, "internal_error": ErrorReason.HTTP_5XX}


class GreenArrowSource(Source[GreenArrowConfig, GACampaignSnapshot]):
    terminal_states = TERMINAL_STATES

    def __init__(self, config: GreenArrowConfig, client: UpstreamClient) -> None:
        super().__init__(config, client)
        self.auth: AuthProvider
        if config.basic_auth is not None:
            self.auth = BasicAuthProvider(config.basic_auth.username, config.basic_auth.secret())
        else:
            assert config.authorization is not None
            self.auth = StaticAuth("Basic", config.authorization.secret())

    def state_of(self, snapshot: GACampaignSnapshot) -> str | None:
        return snapshot.state

    def render(self, entries: Sequence[Entry[GACampaignSnapshot]]) -> list[MetricFamily]:
        return render_families(self.name, entries)

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
        )

    async def fetch(self, book: Book[GACampaignSnapshot]) -> Refresh[GACampaignSnapshot]:
        digest = FailureDigest(self.name)
        refresh: Refresh[GACampaignSnapshot] = Refresh()
        try:
            found = await self._walk(refresh, digest, book.now())
        except SourceError as exc:
            refresh.failure = exc
            return refresh
        finally:
            digest.log()
        # Newest first, so the cap keeps the newest; the state is the version that brings
        # a retired campaign back when it sends again.
        wanted = set(book.select((snap.campaign_id, snap.state) for snap in found))
        refresh.read = {snap.campaign_id: snap for snap in found if snap.campaign_id in wanted}
        refresh.polled = len(refresh.read)
        refresh.complete = not refresh.errors[ErrorReason.MALFORMED]
        return refresh

    async def _walk(
        self, refresh: Refresh[GACampaignSnapshot], digest: FailureDigest, now: float
    ) -> list[GACampaignSnapshot]:
        """Every campaign of the report, newest start window first, each marked with the
        start of its window: the report carries no timestamps, so the window a campaign
        was found in is all the exporter knows of when it started."""
        budget = self.config.max_campaigns
        found: dict[str, GACampaignSnapshot] = {}
        for start, end in start_windows(now, self.config.lookback):
            params = {"started_at__start": _iso(start)}
            if end is not None:
                params["started_at__end"] = _iso(end)
            if budget <= 0:  # past the cap: only count what this window holds
                refresh.left_out += await self._count(params, refresh, digest)
                continue
            snaps = await self._walk_window(params, budget, refresh, digest)
            for snap in reversed(snaps):  # the report is oldest first
                if snap.campaign_id not in found:
                    found[snap.campaign_id] = replace(snap, started_after=start)
            budget = self.config.max_campaigns - len(found)
        return list(found.values())

    async def _count(
        self,
        params: dict[str, str],
        refresh: Refresh[GACampaignSnapshot],
        digest: FailureDigest,
    ) -> int:
        """Campaigns a window holds, from one page of one (``num_records``; 0 if absent)."""
        first = await self._page({**params, "per_page": "1", "page": "0"}, refresh, digest)
        return first.num_records or 0

    async def _walk_window(
        self,
        window: dict[str, str],
        cap: int,
        refresh: Refresh[GACampaignSnapshot],
        digest: FailureDigest,
    ) -> list[GACampaignSnapshot]:
        """Every page of one start window, guarded: a short, empty or repeated page ends
        the walk; past the cap only the newest pages are read, and only once the claimed
        last page proves to exist; never more pages than the cap needs."""
        per_page = self.config.per_page
        params = {**window, "per_page": str(per_page)}
        max_pages = math.ceil(cap / per_page) + 1

        async def page(number: int) -> ReportPage:
            return await self._page({**params, "page": str(number)}, refresh, digest)

        first = await page(0)
        claimed = _claimed_pages(first, per_page)
        pages = [first]
        if claimed is not None and claimed > max_pages:
            # Sorted oldest first: past the cap, read only the newest pages.
            last = await page(claimed - 1)
            if last.raw_count:
                pages = [await page(n) for n in range(claimed - max_pages, claimed - 1)]
                pages.append(last)
                left_out = (claimed - 1) * per_page + last.raw_count - cap
            else:
                claimed = None  # the claimed last page is empty: walk from the start
        if claimed is None or claimed <= max_pages:
            pages = await self._walk_forward(first, page, claimed, max_pages, refresh)
            left_out = 0
        found = [snap for p in pages for snap in p.items]
        refresh.left_out += max(0, left_out, len(found) - cap)
        return found[-cap:]

    async def _walk_forward(
        self,
        first: ReportPage,
        page: Callable[[int], Awaitable[ReportPage]],
        claimed: int | None,
        max_pages: int,
        refresh: Refresh[GACampaignSnapshot],
    ) -> list[ReportPage]:
        pages = [first]
        end = min(claimed, max_pages) if claimed is not None else max_pages
        while pages[-1].raw_count >= self.config.per_page and len(pages) < end:
            nxt = await page(len(pages))
            if nxt.items and _ids(nxt) == _ids(pages[-1]):
                refresh.errors[ErrorReason.MALFORMED] += 1  # the rest could not be read
                log.warning(
                    "report page repeats the one before it; walk stopped",
                    extra={"kv": {"source": self.name, "page": len(pages)}},
                )
                break
            pages.append(nxt)
        return pages

    async def _page(
        self,
        params: dict[str, str],
        refresh: Refresh[GACampaignSnapshot],
        digest: FailureDigest,
    ) -> ReportPage:
        """One page; any failure fails the whole refresh (a partial walk is not published)."""
        try:
            header = await self.auth.header(self.client)
            resp = await self.client.request(
                "GET",
                self.config.base_url + PATH,
                ENDPOINT,
                headers={"Authorization": header},
                params=params,
            )
        except AuthError as exc:
            raise SourceError(str(exc), "auth") from None
        except UpstreamError as exc:
            raise _failure(exc.reason, exc.detail, exc.correlation_id) from None
        cid = resp.correlation_id
        try:
            result = parse_page(resp.body, self.config.per_page)
        except ApiError as exc:
            reason = API_ERROR_REASONS.get(exc.code or "", ErrorReason.HTTP_4XX)
            refresh.errors[reason] += 1
            raise _failure(reason, f"success: false, {exc}", cid) from None
        except Exception as exc:  # noqa: BLE001 - whatever a hostile body raises
            refresh.errors[ErrorReason.MALFORMED] += 1
            detail = str(exc) if isinstance(exc, ParseError) else type(exc).__name__
            raise _failure(ErrorReason.MALFORMED, detail, cid) from None
        bad = result.unreadable + result.refused
        if bad or result.beyond_limit:
            refresh.errors[ErrorReason.MALFORMED] += bad or 1
            detail = (
                f"{result.unreadable} entries without an id, {result.refused} with an unsafe "
                f"id, {result.beyond_limit} past per_page"
            )
            digest.add(UpstreamError("malformed", ENDPOINT, detail, correlation_id=cid))
        refresh.skipped[SkipReason.INVALID_ID] += result.refused
        return result


# Edges of the start windows, newest first (then the lookback): a day and a week are what
# the alerts ask ("failed in the last day", "started in the last week").
WINDOW_EDGES = (86400.0, 7 * 86400.0)


def start_windows(now: float, lookback: float) -> list[tuple[float, float | None]]:
    """``(start, end)`` of each window of the lookback, newest first (``end`` None: now)."""
    windows: list[tuple[float, float | None]] = []
    end: float | None = None
    for edge in [e for e in WINDOW_EDGES if e < lookback] + [lookback]:
        windows.append((now - edge, end))
        end = now - edge
    return windows


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _claimed_pages(first: ReportPage, per_page: int) -> int | None:
    """``num_pages`` when the first page and ``num_records`` agree with it."""
    claimed = first.num_pages
    if claimed is None or first.raw_count < per_page:
        return None if claimed is None else 1
    if first.num_records is not None and claimed != math.ceil(first.num_records / per_page):
        return None
    return claimed


def _ids(page: ReportPage) -> list[str]:
    return [snap.campaign_id for snap in page.items]


def _failure(reason: str, detail: str, correlation_id: str | None) -> SourceError:
    if reason == "auth":
        return SourceError(f"GreenArrow refused the credentials ({detail})", reason, correlation_id)
    return SourceError(f"system campaigns request failed ({detail})", reason, correlation_id)
