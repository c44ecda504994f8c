"""Polls GreenArrow's system-campaigns report: one walk over its pages per refresh."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
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
    volatile_fields = frozenset({"finished_at"})  # a campaign sending again has none

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

    def finished_at(self, snapshot: GACampaignSnapshot) -> float | None:
        return snapshot.finished_at

    def render(self, entries: Sequence[Entry[GACampaignSnapshot]]) -> list[MetricFamily]:
        updated = {e.campaign_id: e.updated_at for e in entries}
        return render_families(self.name, [e.snapshot for e in entries], updated)

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
            started_at=snap.started_at,
            finished_at=entry.finished_at,
            ratio_base=total,
            state_since=entry.state_since,
        )

    async def fetch(self, book: Book[GACampaignSnapshot]) -> Refresh[GACampaignSnapshot]:
        digest = FailureDigest(self.name)
        refresh: Refresh[GACampaignSnapshot] = Refresh()
        try:
            found = await self._walk(refresh, digest)
        except SourceError as exc:
            refresh.failure = exc
            return refresh
        finally:
            digest.log()
        # Newest first, so the cap keeps the newest; the state is the version that brings
        # a retired campaign back when it sends again.
        newest = list(reversed(found))
        wanted = set(book.select((snap.campaign_id, snap.state) for snap in newest))
        refresh.read = {snap.campaign_id: snap for snap in found if snap.campaign_id in wanted}
        refresh.polled = len(refresh.read)
        refresh.complete = not refresh.errors[ErrorReason.MALFORMED]
        return refresh

    async def _walk(
        self, refresh: Refresh[GACampaignSnapshot], digest: FailureDigest
    ) -> list[GACampaignSnapshot]:
        """Every page of the report, guarded: a short, empty or repeated page ends the
        walk; past the cap only the newest pages are read, and only once the claimed last
        page proves to exist; never more pages than the cap needs."""
        cfg = self.config
        since = datetime.fromtimestamp(time.time() - cfg.lookback, UTC)
        params = {
            "per_page": str(cfg.per_page),
            "started_at__start": since.isoformat(timespec="seconds").replace("+00:00", "Z"),
        }
        cap, per_page = cfg.max_campaigns, cfg.per_page
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
        refresh.left_out = max(0, left_out, len(found) - cap)
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
