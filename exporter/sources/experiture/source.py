"""Polls the Experiture v1 Campaigns API: discovery, then status, metrics, summary per campaign."""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

import anyio

from ...auth import AuthError, AuthProvider, provider_for
from ...exposition import MetricFamily
from ...shard import Shard
from ...telemetry import Telemetry
from ...upstream import FailureDigest, UpstreamError
from ..base import UNSHARDED, CampaignRow, Source, SourceError
from .config import CHANNELS, ExperitureConfig
from .discovery import FetchPage, Walk, walk
from .metrics import render_families
from .model import (
    TERMINAL_STATES,
    CampaignPage,
    CampaignSetup,
    Counts,
    ExecutionStatus,
    ListedCampaign,
    ParseError,
    parse_metrics,
    parse_page,
    parse_status,
    parse_summary,
)

log = logging.getLogger("campaign_exporter.experiture")
T = TypeVar("T")


@dataclass
class CampaignRecord:
    """The last good data of one campaign, from each endpoint."""

    campaign_id: str
    listing: ListedCampaign | None = None
    status: ExecutionStatus | None = None
    counts: Counts | None = None
    setup: CampaignSetup | None = None
    setup_fetched: float = -math.inf
    setup_version: str | None = None
    updated_at: float | None = None
    next_due: float = -math.inf  # time.monotonic() when /status is due again
    last_error: str | None = None
    # When each stage's count last grew. First seen counts count as progress: after a
    # restart nobody knows better, and "now" never raises a false stall.
    progress: dict[str, float] = field(default_factory=dict)

    def pipeline_counts(self, analytics: bool) -> Counts | None:
        if analytics and self.counts is not None:
            return self.counts
        return self.status.counts if self.status else None

    def note_progress(self, before: Counts | None, after: Counts | None, now: float) -> None:
        for stage, count in (after or {}).items():
            previous = (before or {}).get(stage)
            if previous is None or count != previous or stage not in self.progress:
                self.progress[stage] = now


@dataclass
class RefreshTally:
    polled: int = 0
    failed: int = 0
    auth_error: str | None = None
    analytics_refused: bool = False
    metrics_read: int = 0
    gone: list[str] = field(default_factory=list)


class ExperitureSource(Source[ExperitureConfig]):
    def __init__(
        self, config: ExperitureConfig, telemetry: Telemetry, shard: Shard = UNSHARDED
    ) -> None:
        super().__init__(config, telemetry, shard)
        self.auth: AuthProvider = provider_for(config.authorization, config.oauth2)
        self.records: dict[str, CampaignRecord] = {}
        self.unsupported: set[str] = set()
        # Finished before the retention window: not polled again unless they change.
        self.retired: dict[str, str | None] = {}
        self.analytics = True
        self.analytics_recheck = 0.0

    def families(self) -> list[MetricFamily]:
        return render_families(self.name, self.records.values(), self.analytics)

    def campaign_rows(self) -> list[CampaignRow]:
        rows = []
        for rec in self.records.values():
            counts = rec.pipeline_counts(self.analytics) or {}
            scheduled, failed = counts.get("scheduled"), counts.get("failed")
            name = (rec.setup and rec.setup.name) or (rec.status and rec.status.name)
            rows.append(
                CampaignRow(
                    campaign_id=rec.campaign_id,
                    name=name or (rec.listing and rec.listing.name) or "",
                    state=(rec.status and rec.status.state) or "unknown",
                    done=counts.get("sent"),
                    total=scheduled,
                    failure_ratio=failed / scheduled if scheduled and failed is not None else None,
                    updated_at=rec.updated_at,
                    error=rec.last_error,
                )
            )
        return rows

    async def refresh(self) -> None:
        digest = FailureDigest(self.name)
        try:
            try:
                listed, left_out = await self._discover(digest)
            except UpstreamError as exc:
                raise SourceError(
                    f"campaign discovery failed: {exc}", exc.reason, exc.correlation_id
                ) from None
            except AuthError as exc:
                raise SourceError(str(exc), "auth") from None
            ids = self._campaign_ids(listed, left_out)
            tally = await self._poll_campaigns(ids, listed, digest)
        finally:
            digest.log()
        self._retire_finished()
        if tally.auth_error:
            raise SourceError(tally.auth_error, "auth")
        if tally.polled and tally.failed == tally.polled:
            raise SourceError(f"all {tally.polled} campaign status requests failed")

    def _campaign_ids(self, listed: dict[str, ListedCampaign], left_out: int) -> list[str]:
        """Explicit ids first, then discovered ones; capped, without retired campaigns."""
        explicit = list(dict.fromkeys(self.config.campaigns))
        named = set(explicit)
        ids = explicit + [cid for cid in listed if cid not in named]
        ids = [cid for cid in ids if self.shard.owns(cid)]
        cap = self.config.max_campaigns
        left_out += max(0, len(ids) - cap)
        ids = ids[:cap]
        version = {cid: listed[cid].updated_at if cid in listed else None for cid in ids}
        # still wanted and unchanged stays retired; gone or edited is forgotten
        self.retired = {c: v for c, v in self.retired.items() if c in version and version[c] == v}
        retired = [cid for cid in ids if cid in self.retired]
        if left_out:
            self.telemetry.campaigns_skipped.inc((self.name, "max_campaigns"), left_out)
        if retired:
            self.telemetry.campaigns_skipped.inc((self.name, "retired"), len(retired))
        return [cid for cid in ids if cid not in self.retired]

    def _retire_finished(self) -> None:
        cutoff = time.time() - self.config.retention
        for cid, rec in list(self.records.items()):
            status = rec.status
            if (
                status is not None
                and status.state in TERMINAL_STATES
                and status.completed_at is not None
                and status.completed_at < cutoff
            ):
                self.retired[cid] = rec.listing.updated_at if rec.listing else None
                del self.records[cid]

    async def _poll_campaigns(
        self, ids: list[str], listed: dict[str, ListedCampaign], digest: FailureDigest
    ) -> RefreshTally:
        wanted = set(ids)
        for cid in [c for c in self.records if c not in wanted]:
            del self.records[cid]
        self.unsupported &= wanted
        supported = [cid for cid in ids if cid not in self.unsupported]
        skipped = len(ids) - len(supported)
        if skipped:
            self.telemetry.campaigns_skipped.inc((self.name, "unsupported_type"), skipped)
        now = time.monotonic()
        todo = [cid for cid in supported if self._due(cid, listed.get(cid), now)]
        tally = RefreshTally()
        use_analytics = self.analytics or time.monotonic() >= self.analytics_recheck
        pending: Iterator[str] = iter(todo)

        async def worker() -> None:
            for cid in pending:
                if tally.auth_error:
                    return
                try:
                    await self._poll_one(cid, listed.get(cid), use_analytics, tally, digest)
                except Exception as exc:  # noqa: BLE001 - one campaign never stops the rest
                    tally.failed += 1
                    self.telemetry.upstream_errors.inc((self.name, "malformed"))
                    error = UpstreamError("malformed", "status", type(exc).__name__)
                    self._campaign_failed(cid, error, tally, digest)

        async with anyio.create_task_group() as tg:
            for _ in range(min(self.config.concurrency, len(todo))):
                tg.start_soon(worker)
        for cid in tally.gone:
            self.records.pop(cid, None)
        if tally.metrics_read and not tally.analytics_refused:
            self.analytics = True
        return tally

    async def _poll_one(
        self,
        cid: str,
        listing: ListedCampaign | None,
        use_analytics: bool,
        tally: RefreshTally,
        digest: FailureDigest,
    ) -> None:
        tally.polled += 1
        path = f"/campaigns/{quote(cid, safe='')}"
        try:
            status = await self._fetch(f"{path}/status", "status", parse_status)
        except UpstreamError as exc:
            tally.failed += 1
            self._campaign_failed(cid, exc, tally, digest)
            return
        except AuthError as exc:
            tally.failed += 1
            tally.auth_error = str(exc)
            return
        rec = self.records.get(cid)
        if rec is None:
            rec = self.records[cid] = CampaignRecord(cid)
        rec.listing = listing or rec.listing
        rec.last_error = None
        before = rec.pipeline_counts(self.analytics)
        rec.status = status
        rec.updated_at = time.time()
        rec.next_due = time.monotonic() + self._cadence(status)
        has_execution = status.counts is not None or status.started_at is not None
        if use_analytics and not tally.analytics_refused and has_execution:
            await self._poll_counts(rec, path, tally, digest)
        rec.note_progress(before, rec.pipeline_counts(self.analytics), rec.updated_at)
        if self._setup_due(rec):
            await self._poll_setup(rec, path, tally, digest)

    async def _poll_counts(
        self, rec: CampaignRecord, path: str, tally: RefreshTally, digest: FailureDigest
    ) -> None:
        try:
            rec.counts = await self._fetch(f"{path}/metrics", "metrics", parse_metrics)
            tally.metrics_read += 1
        except UpstreamError as exc:
            if exc.status == 403:
                tally.analytics_refused = True
                self._analytics_refused(exc)
            else:
                self._campaign_failed(rec.campaign_id, exc, tally, digest)
        except AuthError as exc:
            tally.auth_error = str(exc)

    async def _poll_setup(
        self, rec: CampaignRecord, path: str, tally: RefreshTally, digest: FailureDigest
    ) -> None:
        try:
            rec.setup = await self._fetch(f"{path}/summary", "summary", parse_summary)
        except UpstreamError as exc:
            self._campaign_failed(rec.campaign_id, exc, tally, digest)
            return
        except AuthError as exc:
            tally.auth_error = str(exc)
            return
        rec.setup_fetched = time.monotonic()
        rec.setup_version = rec.listing.updated_at if rec.listing else None

    def _due(self, cid: str, listing: ListedCampaign | None, now: float) -> bool:
        rec = self.records.get(cid)
        if rec is None or not self.config.polling.adaptive or now >= rec.next_due:
            return True
        # an edit seen by discovery makes it due now, whatever its state
        return (
            listing is not None
            and rec.listing is not None
            and (listing.updated_at != rec.listing.updated_at)
        )

    def _cadence(self, status: ExecutionStatus) -> float:
        """Seconds until this campaign's /status is due again, from its state."""
        interval, plan = self.config.poll_interval, self.config.polling
        if not plan.adaptive:
            return interval
        state, now = status.state, time.time()
        if state == "scheduled" and status.send_at is not None:
            until_fast = status.send_at - plan.send_lead - now
            return max(interval, min(plan.scheduled_interval, until_fast))
        if state in TERMINAL_STATES:
            done = status.completed_at
            if done is not None and now - done < plan.settle_for:
                return max(interval, plan.settle_interval)
            return max(interval, plan.idle_interval)
        if state == "not_scheduled":
            return max(interval, plan.idle_interval)
        return interval  # running, pending_or_overdue, and anything undocumented

    def _setup_due(self, rec: CampaignRecord) -> bool:
        if rec.setup is None:
            return True
        if rec.listing and rec.listing.updated_at != rec.setup_version:
            return True
        if self.config.polling.adaptive and rec.listing is not None:
            return False  # discovery tells when it changed
        return time.monotonic() - rec.setup_fetched >= self.config.summary_interval

    def _campaign_failed(
        self, cid: str, exc: UpstreamError, tally: RefreshTally, digest: FailureDigest
    ) -> None:
        if exc.reason == "not_found":
            tally.gone.append(cid)
        elif exc.reason == "unsupported":
            self.unsupported.add(cid)
            tally.gone.append(cid)
            self.telemetry.campaigns_skipped.inc((self.name, "unsupported_type"))
        else:
            digest.add(exc)
            if cid in self.records:
                self.records[cid].last_error = f"{exc.endpoint}: {exc.detail}"

    def _analytics_refused(self, exc: UpstreamError) -> None:
        self.analytics_recheck = time.monotonic() + self.config.summary_interval
        if self.analytics:
            log.warning(
                "token may not read /metrics (analytics:read scope missing); "
                "pipeline counts come from /status",
                extra={"kv": {"source": self.name, "correlation_id": exc.correlation_id}},
            )
        self.analytics = False

    async def _fetch(
        self,
        path: str,
        endpoint: str,
        parse: Callable[[Any], T],
        params: dict[str, str] | None = None,
    ) -> T:
        """GET and parse; a 401 gets one more try with a fresh token."""
        url = self.config.base_url + path
        for attempt in (1, 2):
            header = await self.auth.header(self.client)
            try:
                resp = await self.client.request(
                    "GET",
                    url,
                    endpoint,
                    headers={"Authorization": header},
                    params=params,
                    # Experiture limits each endpoint class on its own: analytics is /metrics
                    endpoint_class="analytics" if endpoint == "metrics" else "campaigns",
                )
            except UpstreamError as exc:
                if exc.status == 401 and attempt == 1 and self.auth.invalidate(header):
                    continue
                if exc.status == 401:
                    raise AuthError(
                        f"upstream refused the credentials (HTTP 401 on {endpoint})"
                    ) from None
                raise
            try:
                return parse(resp.body)
            except Exception as exc:  # noqa: BLE001 - whatever a hostile body raises
                self.telemetry.upstream_errors.inc((self.name, "malformed"))
                detail = str(exc) if isinstance(exc, ParseError) else type(exc).__name__
                raise UpstreamError(
                    "malformed",
                    endpoint,
                    detail,
                    status=resp.status,
                    correlation_id=resp.correlation_id,
                ) from None
        raise AssertionError("unreachable")

    async def _discover(self, digest: FailureDigest) -> tuple[dict[str, ListedCampaign], int]:
        """The campaigns discovery finds, and how many more it left out past the cap.

        A walk that met unreadable entries is incomplete: campaigns already known stay
        in (and are polled) rather than being dropped for an entry that could not be read.
        """
        disc = self.config.discovery
        result = Walk()
        if not disc.enabled:
            return result.found, 0
        channels: list[str | None] = list(disc.channels)
        if not channels or set(channels) >= set(CHANNELS):
            channels = [None]
        for channel in channels:
            await walk(
                self._page_fetcher(channel), disc.page_size, self.config.max_campaigns, result
            )
        bad = result.unreadable + result.refused + int(result.repeated)
        if bad or result.beyond_limit:
            self.telemetry.upstream_errors.inc((self.name, "malformed"), bad or 1)
            detail = (
                f"{result.unreadable} entries without an id, {result.refused} with an unsafe "
                f"id, {result.beyond_limit} past the page size"
                + (", a page repeated" if result.repeated else "")
            )
            digest.add(UpstreamError("malformed", "list", detail))
        if result.refused:
            self.telemetry.campaigns_skipped.inc((self.name, "invalid_id"), result.refused)
        if not result.complete:
            for cid, rec in self.records.items():
                if cid not in result.found and rec.listing is not None:
                    result.found[cid] = rec.listing
        return result.found, result.left_out

    def _page_fetcher(self, channel: str | None) -> FetchPage:
        params = {"sortBy": "updatedAt", "sortDirection": "desc"}
        if self.config.discovery.status:
            params["status"] = self.config.discovery.status
        if channel:
            params["channel"] = channel

        async def fetch(offset: int, limit: int) -> CampaignPage:
            query = {**params, "limit": str(limit), "offset": str(offset)}
            return await self._fetch(
                "/campaigns", "list", functools.partial(parse_page, limit=limit), query
            )

        return fetch
