"""GreenArrow system-campaigns pages parsed into snapshots, tolerating nulls and surprises."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..fields import count, obj, text, timestamp

STATES = ("sending", "finished", "failed", "cancelled")
TERMINAL_STATES = frozenset({"finished", "failed", "cancelled"})

# Every documented stats group and its fields, in the API's order.
STAT_FIELDS: dict[str, tuple[str, ...]] = {
    "recipients": ("total", "sent", "skip", "remaining"),
    "sent": ("total", "accepted", "bounced", "in_queue"),
    "skip": ("ssr_failure", "ssr_request"),
    "open": ("total", "unique"),
    "click": ("total", "unique"),
    "bounce": ("total", "unique", "hard", "soft", "other", "subscribers_updated"),
    "scomp": ("total", "unique", "subscribers_updated"),
    "unsub": ("total", "unique", "subscribers_updated"),
}

Stats = dict[str, dict[str, int]]


class ParseError(Exception):
    """A page that cannot be read as the documented shape."""


class ApiError(Exception):
    """``success: false``: the API's own error code and message."""

    def __init__(self, code: str | None, message: str) -> None:
        super().__init__(f"{code or 'error'}: {message}" if message else code or "error")
        self.code = code


@dataclass(frozen=True, slots=True)
class GACampaignSnapshot:
    campaign_id: str
    name: str | None
    state: str | None
    paused: bool | None
    organization_id: str | None
    organization: str | None
    mailing_list_id: str | None
    mailing_list: str | None
    started_at: float | None
    finished_at: float | None
    stats: Stats  # only the groups and fields that came back as non-negative integers


@dataclass(frozen=True, slots=True)
class ReportPage:
    items: list[GACampaignSnapshot]
    raw_count: int  # items on the page, readable or not
    unreadable: int
    num_pages: int | None
    num_records: int | None


def _paused(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def _time(campaign: dict[str, Any], key: str) -> float | None:
    """The ``*_epoch`` twin when present (the text is in the organization's zone)."""
    epoch = campaign.get(f"{key}_epoch")
    if isinstance(epoch, (int, float)) and not isinstance(epoch, bool) and math.isfinite(epoch):
        return float(epoch)
    return timestamp(campaign, key)


def parse_stats(raw: Any) -> Stats:
    stats: Stats = {}
    for group, fields in STAT_FIELDS.items():
        values = obj(raw, group)
        if values is None:
            continue
        got = {f: n for f in fields if (n := count(values, f)) is not None}
        if got:
            stats[group] = got
    return stats


def parse_item(raw: Any) -> GACampaignSnapshot | None:
    campaign = obj(raw, "campaign")
    cid = text(campaign, "id", int_ok=True)
    if campaign is None or cid is None:
        return None
    org, mailing_list = obj(raw, "organization"), obj(raw, "mailing_list")
    return GACampaignSnapshot(
        campaign_id=cid,
        name=text(campaign, "name"),
        state=text(campaign, "state"),
        paused=_paused(campaign.get("paused")),
        organization_id=text(org, "id", int_ok=True),
        organization=text(org, "name"),
        mailing_list_id=text(mailing_list, "id", int_ok=True),
        mailing_list=text(mailing_list, "name"),
        started_at=_time(campaign, "started_at"),
        finished_at=_time(campaign, "finished_at"),
        stats=parse_stats(campaign.get("stats")),
    )


def parse_page(body: Any) -> ReportPage:
    if not isinstance(body, dict):
        raise ParseError("body is not a JSON object")
    if body.get("success") is not True:
        message = body.get("error_message")
        raise ApiError(text(body, "error_code"), message[:200] if isinstance(message, str) else "")
    data = body.get("data")
    report = data.get("campaign_report") if isinstance(data, dict) else data
    if not isinstance(report, list):
        raise ParseError("data.campaign_report is not an array")
    items = [snap for raw in report if (snap := parse_item(raw)) is not None]
    return ReportPage(
        items,
        len(report),
        len(report) - len(items),
        count(body, "num_pages"),
        count(body, "num_records"),
    )
