"""Polls the Experiture v1 Campaigns API: discovery, then status, metrics and summary of
the campaigns that are due. What to keep and for how long is the ledger's business."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar
from urllib.parse import quote

import anyio

from ...auth import AuthError, AuthProvider, provider_for
from ...exposition import MetricFamily
from ...ledger import Book, Entry, Refresh
from ...reasons import ErrorReason, SkipReason
from ...upstream import FailureDigest, UpstreamClient, UpstreamError
from ..base import CampaignRow, Source, SourceError
from . import schedule
from .config import CHANNELS, ExperitureConfig
from .discovery import FetchPage, Walk, walk
from .metrics import render_families
from .model import (
    TERMINAL_STATES,
    CampaignPage,
    ListedCampaign,
    ParseError,
    parse_metrics,
    parse_page,
    parse_status,
    parse_summary,
)
from .records import CampaignRecord

log = logging.getLogger("campaign_exporter.experiture")
T = TypeVar("T")
Record = Entry[CampaignRecord]


@dataclass
class Pass:
    """One refresh in flight: what it has read and what went wrong."""

    book: Book[CampaignRecord]
    refresh: Refresh[CampaignRecord]
    digest: FailureDigest
    use_analytics: bool
    auth_error: str | None = None
    analytics_refused: bool = False
    metrics_read: int = 0
    status_failed: int = 0  # /status reads that failed, whatever the reason


class ExperitureSource(Source[ExperitureConfig, CampaignRecord]):
    terminal_states = TERMINAL_STATES

    def __init__(self, config: ExperitureConfig, client: UpstreamClient) -> None:
        super().__init__(config, client)
        self.auth: AuthProvider = provider_for(config.authorization, config.oauth2)
        self.analytics = True
        self.analytics_recheck = 0.0  # monotonic time /metrics may be tried again

    def state_of(self, snapshot: CampaignRecord) -> str | None:
        return snapshot.status.state if snapshot.status else None

    def finished_at(self, snapshot: CampaignRecord) -> float | None:
        return snapshot.status.completed_at if snapshot.status else None

    def merge(self, previous: CampaignRecord, new: CampaignRecord) -> CampaignRecord:
        return new  # built from the last good record already, endpoint by endpoint

    def render(self, entries: Sequence[Record]) -> list[MetricFamily]:
        return render_families(self.name, entries, self.analytics)

    def row(self, entry: Record) -> CampaignRow:
        rec = entry.snapshot
        counts = rec.pipeline_counts(self.analytics) or {}
        scheduled, failed = counts.get("scheduled"), counts.get("failed")
        status, setup, listing = rec.status, rec.setup, rec.listing
        schedule = rec.schedule
        return CampaignRow(
            campaign_id=rec.campaign_id,
            name=rec.name or "",
            state=entry.state or "unknown",
            done=counts.get("sent"),
            total=scheduled,
            failure_ratio=failed / scheduled if scheduled and failed is not None else None,
            updated_at=entry.updated_at,
            error=entry.error,
            channel=(setup.channel if setup else None) or (listing.channel if listing else None),
            send_at=schedule.due_from if schedule else None,
            send_deadline=schedule.deadline if schedule else None,
            started_at=status.started_at if status else None,
            finished_at=entry.finished_at,
            progress_at=max(rec.progress.values(), default=None),
            ratio_base=scheduled,
            state_since=entry.state_since,
        )

    async def fetch(self, book: Book[CampaignRecord]) -> Refresh[CampaignRecord]:
        refresh: Refresh[CampaignRecord] = Refresh()
        use_analytics = self.analytics or book.monotonic() >= self.analytics_recheck
        run = Pass(book, refresh, FailureDigest(self.name), use_analytics)
        try:
            try:
                listed = await self._discover(run)
            except UpstreamError as exc:
                refresh.failure = SourceError(
                    f"campaign discovery failed: {exc}", exc.reason, exc.correlation_id
                )
                return refresh
            except AuthError as exc:
                refresh.failure = SourceError(str(exc), ErrorReason.AUTH)
                return refresh
            explicit = [(cid, None) for cid in self.config.campaigns]
            discovered = [(cid, item.updated_at) for cid, item in listed.items()]
            ids = book.select(explicit + discovered)
            await self._poll_due(run, ids, listed)
        finally:
            run.digest.log()
        if run.metrics_read and not run.analytics_refused:
            self.analytics = True
        if run.auth_error:
            refresh.failure = SourceError(run.auth_error, ErrorReason.AUTH)
        elif refresh.polled and run.status_failed == refresh.polled:
            refresh.failure = SourceError(f"all {refresh.polled} campaign status requests failed")
        return refresh

    async def _poll_due(self, run: Pass, ids: list[str], listed: dict[str, ListedCampaign]) -> None:
        now = run.book.monotonic()
        todo = [
            cid
            for cid in ids
            if schedule.due(self.config, self._record(run.book, cid), listed.get(cid), now)
        ]
        pending: Iterator[str] = iter(todo)

        async def worker() -> None:
            for cid in pending:
                if run.auth_error:
                    return
                run.refresh.polled += 1
                try:
                    await self._poll_one(run, cid, listed.get(cid))
                except Exception as exc:  # noqa: BLE001 - one campaign never stops the rest
                    run.status_failed += 1
                    run.refresh.errors[ErrorReason.MALFORMED] += 1
                    error = UpstreamError(ErrorReason.MALFORMED, "status", type(exc).__name__)
                    self._campaign_failed(run, cid, error)

        async with anyio.create_task_group() as tg:
            for _ in range(min(self.config.concurrency, len(todo))):
                tg.start_soon(worker)

    @staticmethod
    def _record(book: Book[CampaignRecord], cid: str) -> CampaignRecord | None:
        entry = book.get(cid)
        return entry.snapshot if entry is not None else None

    async def _poll_one(self, run: Pass, cid: str, listing: ListedCampaign | None) -> None:
        path = f"/campaigns/{quote(cid, safe='')}"
        try:
            status = await self._fetch(run, f"{path}/status", "status", parse_status)
        except UpstreamError as exc:
            run.status_failed += 1
            self._campaign_failed(run, cid, exc)
            return
        except AuthError as exc:
            run.status_failed += 1
            run.auth_error = str(exc)
            return
        previous = self._record(run.book, cid)
        rec = replace(previous, progress=dict(previous.progress)) if previous else None
        rec = rec or CampaignRecord(cid)
        rec.listing = listing or rec.listing
        before = rec.pipeline_counts(self.analytics)
        rec.status = status
        rec.next_due = run.book.monotonic() + schedule.cadence(self.config, rec, run.book.now())
        run.refresh.read[cid] = rec
        has_execution = status.counts is not None or status.started_at is not None
        if run.use_analytics and not run.analytics_refused and has_execution:
            await self._poll_counts(run, rec, path)
        rec.note_progress(before, rec.pipeline_counts(self.analytics), run.book.now())
        if schedule.setup_due(self.config, rec, run.book.monotonic()):
            await self._poll_setup(run, rec, path)

    async def _poll_counts(self, run: Pass, rec: CampaignRecord, path: str) -> None:
        try:
            rec.counts = await self._fetch(run, f"{path}/metrics", "metrics", parse_metrics)
            run.metrics_read += 1
        except UpstreamError as exc:
            if exc.status == 403:
                run.analytics_refused = True
                self._analytics_refused(run, exc)
            else:
                self._campaign_failed(run, rec.campaign_id, exc)
        except AuthError as exc:
            run.auth_error = str(exc)

    async def _poll_setup(self, run: Pass, rec: CampaignRecord, path: str) -> None:
        try:
            rec.setup = await self._fetch(run, f"{path}/summary", "summary", parse_summary)
        except UpstreamError as exc:
            self._campaign_failed(run, rec.campaign_id, exc)
            return
        except AuthError as exc:
            run.auth_error = str(exc)
            return
        rec.setup_read = run.book.monotonic()
        rec.setup_version = rec.listing.updated_at if rec.listing else None

    def _campaign_failed(self, run: Pass, cid: str, exc: UpstreamError) -> None:
        if exc.reason == ErrorReason.NOT_FOUND:
            run.refresh.gone.add(cid)
        elif exc.reason == ErrorReason.UNSUPPORTED:
            run.refresh.exclude[cid] = SkipReason.UNSUPPORTED_TYPE
            run.refresh.skipped[SkipReason.UNSUPPORTED_TYPE] += 1
        else:
            run.digest.add(exc)
            run.refresh.failed[cid] = f"{exc.endpoint}: {exc.detail}"

    def _analytics_refused(self, run: Pass, exc: UpstreamError) -> None:
        self.analytics_recheck = run.book.monotonic() + self.config.summary_interval
        if self.analytics:
            log.warning(
                "token may not read /metrics (analytics:read scope missing); "
                "pipeline counts come from /status",
                extra={"kv": {"source": self.name, "correlation_id": exc.correlation_id}},
            )
        self.analytics = False

    async def _fetch(
        self,
        run: Pass,
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
                run.refresh.errors[ErrorReason.MALFORMED] += 1
                detail = str(exc) if isinstance(exc, ParseError) else type(exc).__name__
                raise UpstreamError(
                    ErrorReason.MALFORMED,
                    endpoint,
                    detail,
                    status=resp.status,
                    correlation_id=resp.correlation_id,
                ) from None
        raise AssertionError("unreachable")

    async def _discover(self, run: Pass) -> dict[str, ListedCampaign]:
        """The campaigns discovery finds (how many more it left out past the cap goes to
        the refresh).

        A walk that met unreadable entries is incomplete: campaigns already known stay
        in (and are polled) rather than being dropped for an entry that could not be read.
        """
        disc = self.config.discovery
        result = Walk()
        if not disc.enabled:
            return result.found
        channels: list[str | None] = list(disc.channels)
        if not channels or set(channels) >= set(CHANNELS):
            channels = [None]
        for channel in channels:
            await walk(
                self._page_fetcher(run, channel), disc.page_size, self.config.max_campaigns, result
            )
        bad = result.unreadable + result.refused + int(result.repeated)
        if bad or result.beyond_limit:
            run.refresh.errors[ErrorReason.MALFORMED] += bad or 1
            detail = (
                f"{result.unreadable} entries without an id, {result.refused} with an unsafe "
                f"id, {result.beyond_limit} past the page size"
                + (", a page repeated" if result.repeated else "")
            )
            run.digest.add(UpstreamError(ErrorReason.MALFORMED, "list", detail))
        run.refresh.skipped[SkipReason.INVALID_ID] += result.refused
        run.refresh.left_out += result.left_out
        # An incomplete listing removes nothing: the ledger keeps what it did not name.
        run.refresh.complete = result.complete
        return result.found

    def _page_fetcher(self, run: Pass, channel: str | None) -> FetchPage:
        params = {"sortBy": "updatedAt", "sortDirection": "desc"}
        if self.config.discovery.status:
            params["status"] = self.config.discovery.status
        if channel:
            params["channel"] = channel

        async def fetch(offset: int, limit: int) -> CampaignPage:
            query = {**params, "limit": str(limit), "offset": str(offset)}
            return await self._fetch(
                run, "/campaigns", "list", functools.partial(parse_page, limit=limit), query
            )

        return fetch
