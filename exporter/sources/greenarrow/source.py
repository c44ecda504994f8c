"""Polls GreenArrow's system-campaigns report: one walk over its pages per refresh."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import fields, replace
from datetime import UTC, datetime
from typing import Any

from ...auth import AuthError, AuthProvider, BasicAuthProvider, StaticAuth
from ...exposition import MetricFamily
from ...shard import Shard
from ...telemetry import Telemetry
from ...upstream import FailureDigest, UpstreamError
from ..base import UNSHARDED, CampaignRow, Source, SourceError
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
API_ERROR_REASONS = {"not_authorized": "auth", "internal_error": "http_5xx"}


class GreenArrowSource(Source[GreenArrowConfig]):
    def __init__(
        self, config: GreenArrowConfig, telemetry: Telemetry, shard: Shard = UNSHARDED
    ) -> None:
        super().__init__(config, telemetry, shard)
        self.auth: AuthProvider
        if config.basic_auth is not None:
            self.auth = BasicAuthProvider(config.basic_auth.username, config.basic_auth.secret())
        else:
            assert config.authorization is not None
            self.auth = StaticAuth("Basic", config.authorization.secret())
        self.campaigns: dict[str, GACampaignSnapshot] = {}
        self.updated: dict[str, float] = {}
        self.unreadable_entries = 0

    def families(self) -> list[MetricFamily]:
        return render_families(self.name, self.campaigns.values(), self.updated)

    def campaign_rows(self) -> list[CampaignRow]:
        rows = []
        for snap in self.campaigns.values():
            sent = snap.stats.get("sent", {})
            total, bounced = sent.get("total"), sent.get("bounced")
            state = snap.state or "unknown"
            rows.append(
                CampaignRow(
                    campaign_id=snap.campaign_id,
                    name=snap.name or "",
                    state=f"{state} (paused)" if snap.paused else state,
                    done=total,
                    total=snap.stats.get("recipients", {}).get("total"),
                    failure_ratio=bounced / total if total and bounced is not None else None,
                    updated_at=self.updated.get(snap.campaign_id),
                )
            )
        return rows

    async def refresh(self) -> None:
        digest = FailureDigest(self.name)
        try:
            found = await self._walk(digest)
        finally:
            digest.log()
        now = time.time()
        cutoff = now - self.config.retention
        merged: dict[str, GACampaignSnapshot] = {}
        retired = 0
        for snap in found:
            if not self.shard.owns(snap.campaign_id):
                continue
            previous = self.campaigns.get(snap.campaign_id)
            if previous is not None:
                snap = _carry_over(previous, snap)
            if snap.state in TERMINAL_STATES and (snap.finished_at or now) < cutoff:
                retired += 1
                continue
            merged[snap.campaign_id] = snap
        updated = dict.fromkeys(merged, now)
        if self.unreadable_entries:
            # Entries that could not be read leave their campaigns' last good values.
            for cid, snap in self.campaigns.items():
                if cid not in merged:
                    merged[cid] = snap
                    updated[cid] = self.updated.get(cid, now)
        if retired:
            self.telemetry.campaigns_skipped.inc((self.name, "retired"), retired)
        self.updated = updated
        self.campaigns = merged

    async def _walk(self, digest: FailureDigest) -> list[GACampaignSnapshot]:
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
        self.unreadable_entries = 0

        async def page(number: int) -> ReportPage:
            return await self._page({**params, "page": str(number)}, digest)

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
            pages, left_out = await self._walk_forward(first, page, claimed, max_pages), 0
        found = [snap for p in pages for snap in p.items]
        left_out = max(left_out, len(found) - cap)
        if left_out > 0:
            self.telemetry.campaigns_skipped.inc((self.name, "max_campaigns"), left_out)
        return found[-cap:]

    async def _walk_forward(
        self,
        first: ReportPage,
        page: Callable[[int], Awaitable[ReportPage]],
        claimed: int | None,
        max_pages: int,
    ) -> list[ReportPage]:
        pages = [first]
        end = min(claimed, max_pages) if claimed is not None else max_pages
        while pages[-1].raw_count >= self.config.per_page and len(pages) < end:
            nxt = await page(len(pages))
            if nxt.items and _ids(nxt) == _ids(pages[-1]):
                self._repeated_page(page_number=len(pages))
                break
            pages.append(nxt)
        return pages

    def _repeated_page(self, page_number: int) -> None:
        self.unreadable_entries += 1  # the rest of the report could not be read
        self.telemetry.upstream_errors.inc((self.name, "malformed"))
        log.warning(
            "report page repeats the one before it; walk stopped",
            extra={"kv": {"source": self.name, "page": page_number}},
        )

    async def _page(self, params: dict[str, str], digest: FailureDigest) -> ReportPage:
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
            reason = API_ERROR_REASONS.get(exc.code or "", "http_4xx")
            self.telemetry.upstream_errors.inc((self.name, reason))
            raise _failure(reason, f"success: false, {exc}", cid) from None
        except Exception as exc:  # noqa: BLE001 - whatever a hostile body raises
            self.telemetry.upstream_errors.inc((self.name, "malformed"))
            detail = str(exc) if isinstance(exc, ParseError) else type(exc).__name__
            raise _failure("malformed", detail, cid) from None
        bad = result.unreadable + result.refused
        if bad or result.beyond_limit:
            self.unreadable_entries += bad
            self.telemetry.upstream_errors.inc((self.name, "malformed"), bad or 1)
            detail = (
                f"{result.unreadable} entries without an id, {result.refused} with an unsafe "
                f"id, {result.beyond_limit} past per_page"
            )
            digest.add(UpstreamError("malformed", ENDPOINT, detail, correlation_id=cid))
        if result.refused:
            self.telemetry.campaigns_skipped.inc((self.name, "invalid_id"), result.refused)
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


def _carry_over(previous: GACampaignSnapshot, snap: GACampaignSnapshot) -> GACampaignSnapshot:
    """Fields and stats groups that came back null keep their last good values."""
    changes: dict[str, Any] = {
        f.name: getattr(previous, f.name)
        for f in fields(snap)
        if getattr(snap, f.name) is None and f.name != "finished_at"
    }
    if set(snap.stats) != set(previous.stats):
        changes["stats"] = {**previous.stats, **snap.stats}
    return replace(snap, **changes) if changes else snap
