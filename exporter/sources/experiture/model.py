"""Experiture API bodies parsed into snapshots, tolerating nulls, gaps and unknown values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..fields import ParseError, count, identifier, obj, text, timestamp
from ..paging import read_entries

STATES = ("not_scheduled", "scheduled", "pending_or_overdue", "running", "completed", "failed")
TERMINAL_STATES = frozenset({"completed", "failed"})
STAGES = ("scheduled", "hydrated", "composed", "injected", "sent", "failed")
REACH_STATUSES = ("idle", "pending", "ok", "failed")
PREFLIGHT_STATUSES = ("not_evaluated",)  # the one value the docs show; others are kept
UNSUPPORTED_CODES = frozenset({"TYPE_UNSUPPORTED", "SUMMARY_TYPE_UNSUPPORTED"})

Counts = dict[str, int]


@dataclass(frozen=True, slots=True)
class ListedCampaign:
    campaign_id: str
    name: str | None
    channel: str | None
    authoring_status: str | None
    updated_at: str | None


@dataclass(frozen=True, slots=True)
class CampaignPage:
    items: list[ListedCampaign]
    total: int | None
    unreadable: int = 0  # entries without an id
    refused: int = 0  # entries whose id is unsafe to poll
    beyond_limit: int = 0  # entries past the page size asked for, not read

    @property
    def size(self) -> int:
        """Entries read, readable or not (at most the page size asked for)."""
        return len(self.items) + self.unreadable + self.refused


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a send is due: ``sendAt`` (modes ``at``), or a ``batchDate`` with no time of
    day (direct mail's ``batch_on_date``) in its ``timezone`` (UTC when absent or unknown).
    """

    mode: str | None
    send_at: float | None  # sendAt
    batch_date: date | None
    timezone: str | None

    def _day(self, days: int) -> float | None:
        if self.batch_date is None:
            return None
        try:
            zone = ZoneInfo(self.timezone or "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo("UTC")
        day = self.batch_date + timedelta(days=days)
        return datetime(day.year, day.month, day.day, tzinfo=zone).timestamp()

    @property
    def due_from(self) -> float | None:
        """The earliest it may send: sendAt, or the start of the batch day."""
        return self.send_at if self.send_at is not None else self._day(0)

    @property
    def deadline(self) -> float | None:
        """After this, a send that has not started is late: sendAt, or the end of the
        batch day."""
        return self.send_at if self.send_at is not None else self._day(1)


@dataclass(frozen=True, slots=True)
class ExecutionStatus:
    name: str | None
    authoring_status: str | None
    state: str | None
    started_at: float | None
    completed_at: float | None
    counts: Counts | None
    schedule: Schedule | None


@dataclass(frozen=True, slots=True)
class CampaignSetup:
    name: str | None
    channel: str | None
    campaign_type: str | None
    authoring_status: str | None
    schedule: Schedule | None
    configured: bool | None
    reach: int | None
    reach_status: str | None = None  # idle, pending, ok, failed: trust the count when ok
    reach_stale: bool | None = None
    preflight_status: str | None = None
    template_status: str | None = None


def data_of(body: Any) -> Any:
    """The ``data`` of a success envelope."""
    if not isinstance(body, dict):
        raise ParseError("body is not a JSON object")
    if body.get("success") is False:
        raise ParseError("envelope says success: false")
    if "data" not in body:
        raise ParseError("envelope has no data")
    return body["data"]


def _listed_id(raw: Any) -> str | None:
    return identifier(raw, "campaignId") or identifier(raw, "id")


def _listed(raw: Any) -> ListedCampaign | None:
    cid = _listed_id(raw)
    if cid is None:
        return None
    return ListedCampaign(
        campaign_id=cid,
        name=text(raw, "name"),
        channel=text(raw, "channel"),
        authoring_status=text(raw, "authoringStatus") or text(raw, "status"),
        updated_at=text(raw, "updatedAt"),
    )


def parse_page(body: Any, limit: int) -> CampaignPage:
    """One page of the campaign list; entries past ``limit`` (what was asked) are not read."""
    data = data_of(body)
    if not isinstance(data, list):
        raise ParseError("campaign list data is not an array")
    entries = read_entries(data, limit, _listed)
    total = count(obj(body, "pagination"), "total")
    return CampaignPage(
        entries.items, total, entries.unreadable, entries.refused, entries.beyond_limit
    )


def parse_counts(raw: Any) -> Counts | None:
    if not isinstance(raw, dict):
        return None
    counts = {stage: n for stage in STAGES if (n := count(raw, stage)) is not None}
    return counts or None


def parse_status(body: Any) -> ExecutionStatus:
    data = data_of(body)
    if not isinstance(data, dict):
        raise ParseError("status data is not an object")
    execution = obj(data, "execution")
    if text(execution, "state") is None:
        # The one fact /status exists for: without it the body says nothing usable.
        raise ParseError("status has no execution.state")
    last = obj(execution, "lastExecution")
    schedule = obj(data, "schedule")
    return ExecutionStatus(
        name=text(data, "name"),
        authoring_status=text(data, "authoringStatus"),
        state=text(execution, "state"),
        started_at=timestamp(last, "startedAt"),
        completed_at=timestamp(last, "completedAt"),
        counts=parse_counts(last.get("counts") if last else None),
        schedule=parse_schedule(schedule),
    )


def _date(d: Any, key: str) -> date | None:
    value = text(d, key)
    try:
        return date.fromisoformat(value) if value and len(value) == 10 else None
    except ValueError:
        return None


def parse_schedule(raw: Any) -> Schedule | None:
    if not isinstance(raw, dict):
        return None
    schedule = Schedule(
        mode=text(raw, "mode"),
        send_at=timestamp(raw, "sendAt"),
        batch_date=_date(raw, "batchDate"),
        timezone=text(raw, "timezone"),
    )
    return schedule if schedule.due_from is not None or schedule.mode else None


def parse_metrics(body: Any) -> Counts | None:
    data = data_of(body)
    return parse_counts(data.get("counts") if isinstance(data, dict) else None)


def parse_summary(body: Any) -> CampaignSetup:
    data = data_of(body)
    if not isinstance(data, dict):
        raise ParseError("summary data is not an object")
    audience = obj(data, "audience")
    content = obj(data, "content")
    configured: bool | None = None
    if audience is not None or content is not None:
        included = audience.get("included") if audience else None
        has_audience = isinstance(included, list) and len(included) > 0
        has_template = isinstance(obj(content, "template"), dict)
        configured = has_audience and has_template
    reach = obj(audience, "reach")
    stale = reach.get("isStale") if reach else None
    return CampaignSetup(
        name=text(data, "name"),
        channel=text(data, "channel"),
        campaign_type=text(data, "campaignType"),
        authoring_status=text(data, "authoringStatus"),
        schedule=parse_schedule(obj(data, "schedule")),
        configured=configured,
        reach=count(reach, "evaluatedCount"),
        reach_status=text(reach, "status"),
        reach_stale=stale if isinstance(stale, bool) else None,
        preflight_status=text(obj(data, "preflight"), "status"),
        template_status=text(obj(content, "template"), "status"),
    )
