"""One source as the status page shows it: its status, its kind's ``Display``, the
``Attention`` of the thresholds in force and its read backlog."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ...config.thresholds import Thresholds
from ...sources import SOURCE_KINDS, Attention, CampaignRow, Display
from ...telemetry import Telemetry
from ...telemetry.status import Backlog, SourceStatus

FALLBACK = Display("done / total", "ratio")
NO_BACKLOG = Backlog({}, 0.0, 0)


@dataclass(frozen=True)
class SourceView:
    name: str
    status: SourceStatus
    display: Display
    attention: Attention
    backlog: Backlog
    behind_after: int  # poll intervals: falling_behind_poll_intervals in force

    @property
    def rows(self) -> Sequence[CampaignRow]:
        rows: Sequence[CampaignRow] = self.status.rows
        return rows

    @property
    def state(self) -> str:
        st = self.status
        return "up" if st.up else ("down" if st.last_attempt is not None else "starting")

    @property
    def behind(self) -> bool:
        """As CampaignExporterFallingBehind: a source down is that alert's business (its
        reads fail, so its state ages too, but the budget is not the cause)."""
        limit = self.behind_after * self.status.poll_interval
        return self.state != "down" and self.backlog.running_age > limit


def views_of(
    telemetry: Telemetry, backlogs: Mapping[str, Backlog], thresholds: Thresholds
) -> list[SourceView]:
    views = []
    for name, st in sorted(telemetry.sources.items()):
        kind = SOURCE_KINDS.get(st.type_name)
        display = kind.display if kind is not None else FALLBACK
        backlog = backlogs.get(name, NO_BACKLOG)
        attention = display.attention(thresholds)
        behind = thresholds.falling_behind_poll_intervals
        views.append(SourceView(name, st, display, attention, backlog, behind))
    return views
