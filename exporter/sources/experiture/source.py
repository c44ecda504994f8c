"""Reads the Experiture v1 Campaigns API: walks of the campaign list, and each campaign's
status, metrics (counts) and summary (setup) as reads of their own, each with its due time
and urgency. What to keep and for how long is the ledger's business; when to send each
read, the scheduler's."""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar
from urllib.parse import quote

from ...books.ledger import Book, Entry, carry_over
from ...books.reads import Listing, Outcome, Read, Urgency
from ...books.reasons import ErrorReason, SkipReason
from ...exposition.render import MetricFamily
from ...upstream.auth import AuthError, AuthProvider, provider_for
from ...upstream.client import UpstreamClient
from ...upstream.failures import UpstreamError
from ..base import CampaignRow, Source, SourceError, campaign_urgency
from ..failure_digest import FailureDigest
from ..fetch import authorized_get, parse_body
from . import schedule
from .config import CHANNELS, ExperitureConfig
from .discovery import FetchPage, Walk, walk
from .metrics import READ_TIME, render_campaigns, render_totals
from .model import (
    TERMINAL_STATES,
    CampaignPage,
    Counts,
    ListedCampaign,
    parse_metrics,
    parse_page,
    parse_status,
    parse_summary,
)
from .records import CampaignRecord, failure_ratio

log = logging.getLogger("campaign_exporter.experiture")
T = TypeVar("T")
Record = Entry[CampaignRecord]


ACTIVE_STATES = frozenset({"running", "pending_or_overdue"})
CAMPAIGNS, ANALYTICS = "campaigns", "analytics"  # Experiture's rate-limit classes


class ExperitureSource(Source[ExperitureConfig, CampaignRecord]):
    terminal_states = TERMINAL_STATES
    active_states = ACTIVE_STATES
    endpoint_classes = (CAMPAIGNS, ANALYTICS)
    read_time_family = READ_TIME

    def __init__(self, config: ExperitureConfig, client: UpstreamClient) -> None:
        super().__init__(config, client)
        self.auth: AuthProvider = provider_for(config.authorization, config.oauth2)
        self.analytics = True
        self.analytics_recheck = 0.0  # monotonic time /metrics may be tried again
        self.digest = FailureDigest(self.name, config.poll_interval)
        # What the last walks listed, every shard's campaigns included: a head walk ends
        # at the first page of entries already known at the same version.
        self.listed: dict[str, ListedCampaign] = {}
        self.full_walk_at = -math.inf  # monotonic time the next whole walk is due
        self.left_out = 0  # past the cap, at the last whole walk
        self.whole_pages = 0  # pages the last whole walk read

    def state_of(self, snapshot: CampaignRecord) -> str | None:
        return snapshot.status.state if snapshot.status else None

    def finished_at(self, snapshot: CampaignRecord) -> float | None:
        return snapshot.status.completed_at if snapshot.status else None

    def merge(self, previous: CampaignRecord, new: CampaignRecord) -> CampaignRecord:
        """One endpoint's answer over the last good record; a pipeline stage whose count
        moved (or is new) progressed now."""
        merged: CampaignRecord = carry_over(previous, new)
        before = previous.pipeline_counts(self.analytics)
        after = merged.pipeline_counts(self.analytics)
        merged = replace(merged, progress=dict(previous.progress))
        merged.note_progress(before, after, new.read_at or 0.0)
        return merged

    def render(self, entries: Sequence[Record]) -> list[MetricFamily]:
        return render_campaigns(self.name, entries, self.analytics)

    def totals(self, by_state: Mapping[str | None, int]) -> list[MetricFamily]:
        return render_totals(self.name, by_state, self.analytics)

    def row(self, entry: Record) -> CampaignRow:
        rec = entry.snapshot
        counts = rec.pipeline_counts(self.analytics) or {}
        scheduled = counts.get("scheduled")
        status, schedule = rec.status, rec.schedule
        return CampaignRow(
            campaign_id=rec.campaign_id,
            name=rec.name or "",
            state=entry.state or "unknown",
            done=counts.get("sent"),
            total=scheduled,
            failure_ratio=failure_ratio(counts),
            updated_at=entry.updated_at,
            error=entry.error,
            channel=rec.channel,
            send_at=schedule.due_from if schedule else None,
            send_deadline=schedule.deadline if schedule else None,
            started_at=status.started_at if status else None,
            finished_at=entry.finished_at,
            progress_at=max(rec.progress.values(), default=None),
            ratio_base=scheduled,
            state_since=entry.state_since,
        )

    # -- which reads, when ----------------------------------------------------------------

    def reads_for(
        self, campaign_id: str, book: Book[CampaignRecord], due: float, rank: float
    ) -> list[Read]:
        """A campaign newly listed: its state, in listing order after the urgent ones; an
        edited one: its state now (its setup follows, as the version moved)."""
        entry = book.get(campaign_id)
        urgency = self._urgency(entry.snapshot, book.now()) if entry else Urgency.UNREAD
        return [self._read("status", campaign_id, urgency, due, rank=rank)]

    def _read(
        self,
        kind: str,
        cid: str,
        urgency: Urgency,
        due: float,
        rank: float = 0.0,
        interval: float | None = None,
    ) -> Read:
        cls = ANALYTICS if kind == "counts" else CAMPAIGNS
        return Read(kind, cid, cls, urgency, due, interval or self.config.poll_interval, rank)

    def stored(self, snapshot: CampaignRecord) -> CampaignRecord:
        # when /summary was read is monotonic: after a restart it is read again once
        return replace(snapshot, setup_read=None)

    def _urgency(self, rec: CampaignRecord, now: float) -> Urgency:
        status = rec.status
        plan = self.config.polling
        sends_at = rec.schedule.due_from if rec.schedule else None
        state = status.state if status else None
        return campaign_urgency(
            state,
            status.completed_at if status else None,
            self.active_states,
            self.terminal_states,
            now,
            plan.settle_for,
            sends_at=sends_at if state == "scheduled" else None,
            lead=plan.send_lead,
        )

    def _after_status(self, merged: CampaignRecord, book: Book[CampaignRecord]) -> list[Read]:
        """What a /status read makes due: the next one at the state's cadence, the counts
        of an execution, the setup when it is due."""
        now, mono = book.now(), book.monotonic()
        urgency = self._urgency(merged, now)
        cid = merged.campaign_id
        cadence = schedule.cadence(self.config, merged, now)
        follow = [self._read("status", cid, urgency, mono + cadence, interval=cadence)]
        execution = merged.status
        has_execution = execution is not None and (
            execution.counts is not None or execution.started_at is not None
        )
        if has_execution and (self.analytics or mono >= self.analytics_recheck):
            follow.append(self._read("counts", cid, Urgency.DETAIL, mono, rank=urgency))
        if schedule.setup_due(self.config, merged, mono):
            follow.append(self._read("setup", cid, Urgency.DETAIL, mono, rank=urgency))
        return follow

    # -- reads ----------------------------------------------------------------------------

    async def perform(self, read: Read, book: Book[CampaignRecord]) -> Outcome[CampaignRecord]:
        outcome: Outcome[CampaignRecord] = Outcome()
        try:
            if read.kind == "walk":
                await self._walk(outcome, book)
            elif read.kind == "status":
                await self._status(outcome, read.subject, book)
            elif read.kind == "counts":
                await self._counts(outcome, read.subject, book)
            elif read.kind == "setup":
                await self._setup(outcome, read.subject, book)
        except AuthError as exc:
            outcome.failure = SourceError(str(exc), ErrorReason.AUTH)
        finally:
            self.digest.log_due(book.monotonic())
        return outcome

    async def _walk(self, outcome: Outcome[CampaignRecord], book: Book[CampaignRecord]) -> None:
        mono = book.monotonic()
        whole = mono >= self.full_walk_at
        try:
            await self._discover(outcome, whole)
        except UpstreamError as exc:
            outcome.failure = SourceError(
                f"campaign discovery failed: {exc}", exc.reason, exc.correlation_id
            )
            return
        if outcome.listing is not None and outcome.listing.whole:
            self.full_walk_at = mono + self.full_walk_every()
        outcome.follow.append(self.walk_read(mono + self.config.poll_interval))

    async def _status(
        self, outcome: Outcome[CampaignRecord], cid: str, book: Book[CampaignRecord]
    ) -> None:
        outcome.polled = 1
        try:
            status = await self._fetch(outcome, f"{_path(cid)}/status", "status", parse_status)
        except UpstreamError as exc:
            self._campaign_failed(outcome, cid, exc)
            return
        rec = CampaignRecord(cid, listing=self.listed.get(cid), status=status, read_at=book.now())
        outcome.read[cid] = rec
        previous = book.get(cid)
        merged = self.merge(previous.snapshot, rec) if previous else rec
        outcome.follow += self._after_status(merged, book)

    async def _counts(
        self, outcome: Outcome[CampaignRecord], cid: str, book: Book[CampaignRecord]
    ) -> None:
        try:
            counts: Counts | None = await self._fetch(
                outcome, f"{_path(cid)}/metrics", "metrics", parse_metrics
            )
        except UpstreamError as exc:
            if exc.status == 403:
                outcome.render_all = self.analytics  # counts come from /status from now
                self._analytics_refused(exc, book.monotonic())
            else:
                self._campaign_failed(outcome, cid, exc)
            return
        outcome.render_all = not self.analytics  # counts come from /metrics again
        self.analytics = True
        outcome.read[cid] = CampaignRecord(cid, counts=counts, read_at=book.now())

    async def _setup(
        self, outcome: Outcome[CampaignRecord], cid: str, book: Book[CampaignRecord]
    ) -> None:
        try:
            setup = await self._fetch(outcome, f"{_path(cid)}/summary", "summary", parse_summary)
        except UpstreamError as exc:
            self._campaign_failed(outcome, cid, exc)
            return
        listing = self.listed.get(cid)
        outcome.read[cid] = CampaignRecord(
            cid,
            setup=setup,
            setup_read=book.monotonic(),
            setup_version=listing.updated_at if listing else None,
            read_at=book.now(),
        )

    def _campaign_failed(
        self, outcome: Outcome[CampaignRecord], cid: str, exc: UpstreamError
    ) -> None:
        if exc.reason == ErrorReason.NOT_FOUND:
            outcome.gone.add(cid)
        elif exc.reason == ErrorReason.UNSUPPORTED:
            outcome.exclude[cid] = SkipReason.UNSUPPORTED_TYPE
            outcome.skipped[SkipReason.UNSUPPORTED_TYPE] += 1
        else:
            self.digest.add(exc)
            outcome.failed[cid] = f"{exc.endpoint}: {exc.detail}"
            outcome.failure = SourceError(str(exc), exc.reason, exc.correlation_id)

    def _analytics_refused(self, exc: UpstreamError, now: float) -> None:
        self.analytics_recheck = now + self.config.summary_interval
        if self.analytics:
            log.warning(
                "token may not read /metrics (analytics:read scope missing); "
                "pipeline counts come from /status",
                extra={"kv": {"source": self.name, "correlation_id": exc.correlation_id}},
            )
        self.analytics = False

    async def _fetch(
        self,
        outcome: Outcome[CampaignRecord],
        path: str,
        endpoint: str,
        parse: Callable[[Any], T],
        params: dict[str, str] | None = None,
    ) -> T:
        """GET and parse; a 401 that a fresh token does not cure fails the whole read."""
        try:
            resp = await authorized_get(
                self.client,
                self.auth,
                self.config.base_url + path,
                endpoint,
                params=params,
                # Experiture limits each endpoint class on its own: analytics is /metrics
                endpoint_class=ANALYTICS if endpoint == "metrics" else CAMPAIGNS,
            )
        except UpstreamError as exc:
            if exc.status == 401:
                raise AuthError(
                    f"upstream refused the credentials (HTTP 401 on {endpoint})"
                ) from None
            raise
        return parse_body(resp, endpoint, parse, outcome.errors)

    async def _discover(
        self, outcome: Outcome[CampaignRecord], whole: bool
    ) -> dict[str, ListedCampaign]:
        """The campaigns a walk finds (the whole list, or its head: until a page holds
        nothing new); ``outcome.listing`` says which, with the campaigns named in the
        config first.

        A walk that met unreadable entries is incomplete: campaigns already known stay
        in (and are read) rather than being dropped for an entry that could not be read.
        """
        disc = self.config.discovery
        result = Walk()
        explicit: list[tuple[str, str | None]] = [(cid, None) for cid in self.config.campaigns]
        if not disc.enabled:
            outcome.listing = Listing(explicit)
            return result.found
        channels: list[str | None] = list(disc.channels)
        if not channels or set(channels) >= set(CHANNELS):
            channels = [None]
        unchanged = None if whole else self._unchanged
        for channel in channels:
            await walk(
                self._page_fetcher(outcome, channel),
                disc.page_size,
                self.config.max_campaigns,
                result,
                unchanged,
            )
        result.count(outcome, self.digest, "list", "the page size")
        if result.whole:
            self.listed = dict(result.found)
            self.left_out = result.left_out
            self.whole_pages = result.pages
        else:  # those past the cap are still there: as many as the last whole walk said
            self.listed.update(result.found)
            result.left_out = self.left_out
        discovered = [(cid, item.updated_at) for cid, item in result.found.items()]
        # An incomplete listing removes nothing: the ledger keeps what it did not name.
        outcome.listing = Listing(
            explicit + discovered,
            whole=result.whole,
            complete=result.complete,
            left_out=result.left_out,
        )
        return result.found

    def full_walk_every(self) -> float:
        """Seconds between whole walks: ``discovery.full_walk_interval``, or longer on a
        list so long that its pages would cost more than one read per poll interval."""
        disc = self.config.discovery
        return max(disc.full_walk_interval, self.whole_pages * self.config.poll_interval)

    def _unchanged(self, page: CampaignPage) -> bool:
        known = self.listed
        return all(
            item.campaign_id in known and known[item.campaign_id].updated_at == item.updated_at
            for item in page.items
        )

    def _page_fetcher(self, outcome: Outcome[CampaignRecord], channel: str | None) -> FetchPage:
        params = {"sortBy": "updatedAt", "sortDirection": "desc"}
        if self.config.discovery.status:
            params["status"] = self.config.discovery.status
        if channel:
            params["channel"] = channel

        async def fetch(offset: int, limit: int) -> CampaignPage:
            query = {**params, "limit": str(limit), "offset": str(offset)}
            return await self._fetch(
                outcome, "/campaigns", "list", functools.partial(parse_page, limit=limit), query
            )

        return fetch


def _path(cid: str) -> str:
    return f"/campaigns/{quote(cid, safe='')}"
