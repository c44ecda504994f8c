"""Experiture API bodies parsed into snapshots, tolerating nulls, gaps and unknown values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..fields import InvalidId, count, identifier, obj, text, timestamp

STATES = ("not_scheduled", "scheduled", "pending_or_overdue", "running", "completed", "failed")
TERMINAL_STATES = frozenset({"completed", "failed"})
STAGES = ("scheduled", "hydrated", "composed", "injected", "sent", "failed")

Counts = dict[str, int]


class ParseError(Exception):
    """A body that cannot be read as the documented shape."""


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
class ExecutionStatus:
    name: str | None
    authoring_status: str | None
    state: str | None
    started_at: float | None
    completed_at: float | None
    counts: Counts | None
    send_at: float | None


@dataclass(frozen=True, slots=True)
class CampaignSetup:
    name: str | None
    channel: str | None
    campaign_type: str | None
    authoring_status: str | None
    send_at: float | None
    configured: bool | None
    reach: int | None


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


def parse_page(body: Any, limit: int) -> CampaignPage:
    """One page of the campaign list; entries past ``limit`` (what was asked) are not read."""
    data = data_of(body)
    if not isinstance(data, list):
        raise ParseError("campaign list data is not an array")
    items = []
    unreadable = refused = 0
    for raw in data[:limit]:
        try:
            cid = _listed_id(raw)
        except InvalidId:
            refused += 1
            continue
        if cid is None:
            unreadable += 1
            continue
        items.append(
            ListedCampaign(
                campaign_id=cid,
                name=text(raw, "name"),
                channel=text(raw, "channel"),
                authoring_status=text(raw, "authoringStatus") or text(raw, "status"),
                updated_at=text(raw, "updatedAt"),
            )
        )
    pagination = obj(body, "pagination")
    return CampaignPage(
        items, count(pagination, "total"), unreadable, refused, max(0, len(data) - limit)
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
        send_at=timestamp(schedule, "sendAt"),
    )


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
    return CampaignSetup(
        name=text(data, "name"),
        channel=text(data, "channel"),
        campaign_type=text(data, "campaignType"),
        authoring_status=text(data, "authoringStatus"),
        send_at=timestamp(obj(data, "schedule"), "sendAt"),
        configured=configured,
        reach=count(obj(audience, "reach"), "evaluatedCount"),
    )
