"""What needs an operator's eyes: which campaigns are in trouble and why, and the status
page's filter. Pure functions of status rows, each kind's ``Display`` and ``Attention``
(its alerts' thresholds in force) and the time."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import IntEnum
from typing import Any
from urllib.parse import urlencode

from ..sources import Attention, CampaignRow, Display

PAGE_SIZE = 100


class Problem(IntEnum):
    """Why a campaign needs attention, most urgent first."""

    FAILED = 0
    OVERDUE = 1
    STALLED = 2
    HIGH_RATIO = 3
    UNREADABLE = 4


@dataclass(frozen=True)
class Finding:
    problem: Problem
    text: str  # e.g. "overdue by 47m"
    urgency: float  # within one problem, lower sorts first


@dataclass(frozen=True)
class Flagged:
    """A campaign that needs attention, with every reason found."""

    source: str
    row: CampaignRow
    display: Display
    attention: Attention
    findings: tuple[Finding, ...]

    def key(self) -> tuple[int, float, str, str, str]:
        first = self.findings[0]
        return (first.problem, first.urgency, self.source, self.row.name, self.row.campaign_id)


def span(seconds: float) -> str:
    """A duration as an operator reads it: 45s, 47m, 5h 12m, 3d 4h."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 120:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h" if hours else f"{days}d"


def _failed(row: CampaignRow, now: float) -> Finding:
    """When it failed, where the vendor says so; else what the exporter saw: since when it
    is seen failed, or that it failed before the exporter first saw it (sorted last, as
    its moment is unknown)."""
    when = row.finished_at if row.finished_at is not None else row.state_since
    if when is None:
        return Finding(Problem.FAILED, row.state, 0.0)
    if not row.times_learned:
        return Finding(Problem.FAILED, f"{row.state} {span(now - when)} ago", now - when)
    if row.first_seen is not None and when <= row.first_seen:
        text = (
            f"{row.state} before the exporter saw it (first seen {span(now - row.first_seen)} ago)"
        )
        return Finding(Problem.FAILED, text, math.inf)
    return Finding(Problem.FAILED, f"seen {row.state} since {span(now - when)} ago", now - when)


def findings(row: CampaignRow, display: Display, attention: Attention, now: float) -> list[Finding]:
    """Every reason ``row`` needs attention, most urgent first; empty when none."""
    found: list[Finding] = []
    if row.state in display.failed_states:
        found.append(_failed(row, now))
    if row.state in display.overdue_states:
        due = row.send_deadline if row.send_deadline is not None else row.send_at
        since = due if due is not None else row.state_since
        if since is not None and now - since > attention.overdue_after:
            late = now - since
            text = f"overdue by {span(late)}" if due is not None else f"pending for {span(late)}"
            found.append(Finding(Problem.OVERDUE, text, -late))
    stall = attention.stall_after
    active = display.tones.get(row.state) == "active" and not row.paused
    if active and stall is not None and row.progress_at is not None:
        still = now - row.progress_at
        if still > stall:
            found.append(Finding(Problem.STALLED, f"no progress for {span(still)}", -still))
    if _ratio_too_high(row, display, attention, now):
        assert row.failure_ratio is not None
        text = f"{display.ratio} {row.failure_ratio:.2%} (over {attention.ratio_warn:.0%})"
        found.append(Finding(Problem.HIGH_RATIO, text, -row.failure_ratio))
    if row.error:
        found.append(Finding(Problem.UNREADABLE, f"last read failed: {row.error}", 0.0))
    elif row.state == "unknown":
        found.append(Finding(Problem.UNREADABLE, "state unreadable", 0.0))
    return found


def _ratio_too_high(row: CampaignRow, display: Display, attention: Attention, now: float) -> bool:
    if row.failure_ratio is None or row.failure_ratio <= attention.ratio_warn:
        return False
    if (row.ratio_base or 0) < attention.ratio_min or row.state in display.failed_states:
        return False
    return row.finished_at is None or now - row.finished_at < attention.ratio_within


def needs_attention(
    sources: Iterable[tuple[str, Display, Attention, Sequence[CampaignRow]]], now: float
) -> list[Flagged]:
    """Every campaign with a problem, across sources: failed first (newest first), then
    overdue (latest first), stalled, over the ratio threshold, unreadable."""
    flagged = [
        Flagged(name, row, display, attention, tuple(found))
        for name, display, attention, rows in sources
        for row in rows
        if (found := findings(row, display, attention, now))
    ]
    return sorted(flagged, key=Flagged.key)


def by_state(rows: Iterable[CampaignRow], display: Display) -> list[tuple[str, int]]:
    """How many campaigns are in each state, in the kind's page order."""
    counts = Counter(row.state for row in rows)
    last = max(display.state_rank.values(), default=0) + 1
    return sorted(counts.items(), key=lambda kv: (display.state_rank.get(kv[0], last), kv[0]))


@dataclass(frozen=True)
class Query:
    """The status page's filter, from its URL: it works without scripts."""

    source: str = ""
    state: str = ""
    channel: str = ""
    text: str = ""
    page: int = 1

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> Query:
        page = params.get("page", "1")
        return cls(
            source=params.get("source", "")[:100],
            state=params.get("state", "")[:100],
            channel=params.get("channel", "")[:100],
            text=params.get("q", "").strip()[:200],
            page=int(page) if page.isdigit() and 0 < int(page) < 1_000_000 else 1,
        )

    @property
    def filtered(self) -> bool:
        return bool(self.source or self.state or self.channel or self.text)

    def wants_source(self, name: str) -> bool:
        return not self.source or self.source == name

    def matches(self, row: CampaignRow) -> bool:
        if self.state and row.state != self.state:
            return False
        if self.channel and row.channel != self.channel:
            return False
        if self.text:
            needle = self.text.casefold()
            return needle in row.name.casefold() or needle in row.campaign_id.casefold()
        return True

    def href(self, **changes: Any) -> str:
        """A link to this page with some parameters changed (defaults left out)."""
        query = replace(self, **changes)
        params = {
            "source": query.source,
            "state": query.state,
            "channel": query.channel,
            "q": query.text,
            "page": str(query.page) if query.page != 1 else "",
        }
        encoded = urlencode({k: v for k, v in params.items() if v})
        return f"?{encoded}#campaigns" if encoded else "./#campaigns"


def page_of(rows: Sequence[CampaignRow], page: int) -> tuple[Sequence[CampaignRow], int, int]:
    """One page of rows (the last one when ``page`` is past it), its number, how many."""
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    page = min(page, pages)
    return rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE], page, pages
