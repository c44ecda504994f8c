"""Experiture API bodies parsed into snapshots, tolerating nulls, gaps and unknown values."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

STATES = ("not_scheduled", "scheduled", "pending_or_overdue", "running", "completed", "failed")
TERMINAL_STATES = frozenset({"completed", "failed"})
STAGES = ("scheduled", "hydrated", "composed", "injected", "sent", "failed")
MAX_LABEL = 200

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
    limit: int | None
    unreadable: int = 0


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


def _obj(d: Any, key: str) -> dict[str, Any] | None:
    value = d.get(key) if isinstance(d, dict) else None
    return value if isinstance(value, dict) else None


def _str(d: Any, key: str) -> str | None:
    value = d.get(key) if isinstance(d, dict) else None
    if isinstance(value, str) and value:
        return value[:MAX_LABEL]
    return None


def _count(d: Any, key: str) -> int | None:
    value = d.get(key) if isinstance(d, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if value != value or value < 0 or math.isinf(value):
        return None
    return int(value)


def _time(d: Any, key: str) -> float | None:
    value = _str(d, key)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.timestamp()


def data_of(body: Any) -> Any:
    """The ``data`` of a success envelope."""
    if not isinstance(body, dict):
        raise ParseError("body is not a JSON object")
    if body.get("success") is False:
        raise ParseError("envelope says success: false")
    if "data" not in body:
        raise ParseError("envelope has no data")
    return body["data"]


def parse_page(body: Any) -> CampaignPage:
    data = data_of(body)
    if not isinstance(data, list):
        raise ParseError("campaign list data is not an array")
    items = []
    unreadable = 0
    for raw in data:
        cid = _str(raw, "campaignId") or _str(raw, "id")
        if cid is None:
            unreadable += 1
            continue
        items.append(
            ListedCampaign(
                campaign_id=cid,
                name=_str(raw, "name"),
                channel=_str(raw, "channel"),
                authoring_status=_str(raw, "authoringStatus") or _str(raw, "status"),
                updated_at=_str(raw, "updatedAt"),
            )
        )
    pagination = _obj(body, "pagination")
    return CampaignPage(items, _count(pagination, "total"), _count(pagination, "limit"), unreadable)


def parse_counts(raw: Any) -> Counts | None:
    if not isinstance(raw, dict):
        return None
    counts = {stage: n for stage in STAGES if (n := _count(raw, stage)) is not None}
    return counts or None


def parse_status(body: Any) -> ExecutionStatus:
    data = data_of(body)
    if not isinstance(data, dict):
        raise ParseError("status data is not an object")
    execution = _obj(data, "execution")
    if _str(execution, "state") is None:
        # The one fact /status exists for: without it the body says nothing usable.
        raise ParseError("status has no execution.state")
    last = _obj(execution, "lastExecution")
    schedule = _obj(data, "schedule")
    return ExecutionStatus(
        name=_str(data, "name"),
        authoring_status=_str(data, "authoringStatus"),
        state=_str(execution, "state"),
        started_at=_time(last, "startedAt"),
        completed_at=_time(last, "completedAt"),
        counts=parse_counts(last.get("counts") if last else None),
        send_at=_time(schedule, "sendAt"),
    )


def parse_metrics(body: Any) -> Counts | None:
    data = data_of(body)
    return parse_counts(data.get("counts") if isinstance(data, dict) else None)


def parse_summary(body: Any) -> CampaignSetup:
    data = data_of(body)
    if not isinstance(data, dict):
        raise ParseError("summary data is not an object")
    audience = _obj(data, "audience")
    content = _obj(data, "content")
    configured: bool | None = None
    if audience is not None or content is not None:
        included = audience.get("included") if audience else None
        has_audience = isinstance(included, list) and len(included) > 0
        has_template = isinstance(_obj(content, "template"), dict)
        configured = has_audience and has_template
    return CampaignSetup(
        name=_str(data, "name"),
        channel=_str(data, "channel"),
        campaign_type=_str(data, "campaignType"),
        authoring_status=_str(data, "authoringStatus"),
        send_at=_time(_obj(data, "schedule"), "sendAt"),
        configured=configured,
        reach=_count(_obj(audience, "reach"), "evaluatedCount"),
    )
