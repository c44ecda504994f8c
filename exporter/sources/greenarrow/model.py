"""GreenArrow system-campaigns pages parsed into snapshots, tolerating nulls and surprises."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...books.reasons import ErrorReason
from ..fields import ParseError, RefusedByApi, count, identifier, obj, text
from ..paging import read_entries

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
# How an error_code of ``success: false`` is counted; any other is a client error.
API_ERROR_REASONS = {"not_authorized": ErrorReason.AUTH, "internal_error": ErrorReason.HTTP_5XX}


class ApiError(RefusedByApi):
    """``success: false``: the API's own error code and message."""

    def __init__(self, code: str | None, message: str) -> None:
        said = f"{code or 'error'}: {message}" if message else code or "error"
        reason = API_ERROR_REASONS.get(code or "", ErrorReason.HTTP_4XX)
        super().__init__(said, reason, f"success: false, {said}")


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
    stats: Stats  # only the groups and fields that came back as non-negative integers
    # The start of the report window (``started_at__start``) it was found in: it started
    # sending at or after this time. Set by the source; the report has no timestamps.
    started_after: float | None = None


@dataclass(frozen=True, slots=True)
class ReportPage:
    items: list[GACampaignSnapshot]
    size: int  # entries read (at most per_page), readable or not
    unreadable: int  # entries without a campaign id
    refused: int  # entries whose id is unsafe to label by
    beyond_limit: int  # entries past per_page, not read
    num_pages: int | None
    num_records: int | None


def _paused(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


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
    """One report entry; None when it has no campaign id, ``InvalidId`` when it is unsafe."""
    campaign = obj(raw, "campaign")
    cid = identifier(campaign, "id", int_ok=True)
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
        stats=parse_stats(campaign.get("stats")),
    )


def parse_page(body: Any, per_page: int) -> ReportPage:
    """One report page; entries past ``per_page`` (what was asked) are not read."""
    if not isinstance(body, dict):
        raise ParseError("body is not a JSON object")
    if body.get("success") is not True:
        raise ApiError(text(body, "error_code"), text(body, "error_message") or "")
    data = body.get("data")
    report = data.get("campaign_report") if isinstance(data, dict) else data
    if not isinstance(report, list):
        raise ParseError("data.campaign_report is not an array")
    entries = read_entries(report, per_page, parse_item)
    return ReportPage(
        entries.items,
        size=min(len(report), per_page),
        unreadable=entries.unreadable,
        refused=entries.refused,
        beyond_limit=entries.beyond_limit,
        num_pages=count(body, "num_pages"),
        num_records=count(body, "num_records"),
    )
