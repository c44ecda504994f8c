"""The status page's "Needs attention": the exporter's own troubles (a source down or
falling behind, a failed reload), then every flagged campaign, never cut short."""

from __future__ import annotations

from collections.abc import Sequence

from ...telemetry import Telemetry
from ..triage import Flagged, span
from .cells import details, escape, moment, tr
from .view import SourceView

NOTHING = "Nothing: no failed, overdue, stalled, over-threshold or unreadable campaign."
BEHIND_HINT = (
    "raise the vendor's quota and the source's rate_limits, shard (--total-shards, a token "
    "each) or narrow discovery (discovery.status, discovery.channels, max_campaigns); "
    "see the runbook, CampaignExporterFallingBehind"
)


def _down(view: SourceView, now: float) -> str:
    status = view.status
    since = (
        f"since its last success {moment(status.last_success, now)}"
        if status.last_success is not None
        else f"and has not succeeded since it started {moment(status.registered, now)}"
    )
    detail = escape(status.last_error or "no detail")
    return f"source <b>{escape(view.name)}</b> is down {since}: {detail}"


def exporter_trouble(telemetry: Telemetry, views: Sequence[SourceView], now: float) -> list[str]:
    """The exporter's own troubles, as items of "Needs attention"."""
    items = [_down(v, now) for v in views if v.state == "down"]
    items += [
        f"source <b>{escape(v.name)}</b> is falling behind: its running campaigns' state is "
        f"{v.backlog.running_age / v.status.poll_interval:.1f} poll intervals old "
        f"({span(v.backlog.running_age)}), over {v.behind_after}; {BEHIND_HINT}"
        for v in views
        if v.behind
    ]
    if not telemetry.config_reload_ok:
        items.append(
            f"the last config reload failed: {escape(telemetry.config_reload_error or 'no detail')}"
        )
    return items


def attention_section(exporter: Sequence[str], flagged: Sequence[Flagged], now: float) -> str:
    count = len(exporter) + len(flagged)
    head = f'<section id="attention">\n<h2>Needs attention ({count:,})</h2>\n'
    if not count:
        return head + f"<p>{NOTHING}</p>\n</section>\n"
    items = "".join(f'<li class="warn">{item}</li>\n' for item in exporter)
    items = f"<ul>\n{items}</ul>\n" if items else ""
    if not flagged:
        return head + items + "</section>\n"
    return (
        head + items + '<table class="campaigns attention">\n<tr><th>Campaign</th><th>Source</th>'
        "<th>Name</th><th>Problem</th><th>State</th><th>Channel</th><th>Send at</th>"
        "<th>Started</th><th>Ended</th><th>Progress</th><th>Ratio</th><th>Updated</th></tr>\n"
        + "".join(_flagged_row(f, now) for f in flagged)
        + "</table>\n</section>\n"
    )


def _flagged_row(flagged: Flagged, now: float) -> str:
    row = flagged.row
    problems = "<br>".join(f'<span class="warn">{escape(f.text)}</span>' for f in flagged.findings)
    return tr(
        f"<code>{escape(row.campaign_id)}</code>",
        f'<a href="#source-{escape(flagged.source)}">{escape(flagged.source)}</a>',
        escape(row.name),
        problems,
        *details(row, flagged.display, flagged.attention, now),
    )
