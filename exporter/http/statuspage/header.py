"""The top of the status page, the exporter's own health: the title, the health line
and the table of sources with their counts by state and their backlog."""

from __future__ import annotations

from collections.abc import Sequence

from ... import __version__
from ...telemetry import Telemetry
from ...telemetry.families import URGENCIES
from ...telemetry.recent import Recent
from ..triage import Query, by_state, span
from .cells import escape, moment, tr, warn_count
from .view import SourceView


def title(views: Sequence[SourceView], troubles: int) -> str:
    """``troubles``: every item under "Needs attention", the exporter's own (a source down
    or behind, a failed reload) and the campaigns'."""
    up = sum(v.state == "up" for v in views)
    down = [v.name for v in views if v.state == "down"]
    health = f"{up}/{len(views)} sources up" + (f" ({', '.join(down)} down)" if down else "")
    attention = f"{troubles} need attention" if troubles else "nothing needs attention"
    return f"{health}, {attention} - campaign-exporter"


def health(telemetry: Telemetry, views: Sequence[SourceView], recent: Recent, now: float) -> str:
    up = sum(v.state == "up" for v in views)
    tone = "up" if up == len(views) and views else "down"
    parts = [f'<span class="{tone}">{up} of {len(views)} sources up</span>']
    if telemetry.config_reload_ok:
        parts.append(f"config loaded {moment(telemetry.config_reload_ts, now)}")
    else:
        parts.append(
            f'<span class="down">last config reload failed</span> '
            f"{moment(telemetry.config_reload_attempt, now)}, running the config loaded "
            f"{moment(telemetry.config_reload_ts, now)}"
        )
    window = (
        f"since start {span(recent.seconds)} ago"
        if recent.since_start
        else (f"in the last {span(recent.seconds)}")
    )
    total = recent.total
    parts.append(
        f"{window}: {warn_count(total.rate_limited)} answers of 429, "
        f"{warn_count(total.errors)} upstream errors, "
        f"{warn_count(total.failed_refreshes)} failed refreshes"
    )
    parts.append(f"shard {telemetry.shard.index} of {telemetry.shard.total} (0-based)")
    parts.append(f"version {escape(__version__)}")
    return '<p class="health">' + " &middot; ".join(parts) + "</p>\n"


def _state_counts(view: SourceView) -> str:
    links = [
        f'<a href="{escape(Query(source=view.name, state=state).href())}">'
        f"{escape(state)}</a>&nbsp;{n:,}"
        for state, n in by_state(view.rows, view.display)
    ]
    return " &middot; ".join(links) or "-"


def _urgency_order(urgency: str) -> int:
    return URGENCIES.index(urgency) if urgency in URGENCIES else len(URGENCIES)


def _backlog(view: SourceView) -> str:
    """How far behind the source's reads are: the running state's age (flagged past the
    alert's threshold), the reads waiting for budget by urgency, the campaigns never read."""
    backlog = view.backlog
    age = f"running state {span(backlog.running_age)} old"
    lines = [
        f'<span class="warn">{age}</span> <span class="state late">falling behind</span>'
        if view.behind
        else age
    ]
    waiting = sorted(backlog.waiting.items(), key=lambda item: _urgency_order(item[0]))
    due = [
        f"{escape(urgency)}: {count:,} due, oldest waiting {span(wait)}"
        for urgency, (count, wait) in waiting
        if count
    ]
    lines += due or ["no reads due"]
    lines.append(f"{backlog.unread:,} campaigns not read yet")
    return "<br>".join(lines)


def _source_row(view: SourceView, recent: Recent, now: float) -> str:
    st, name = view.status, view.name
    trouble = recent.by_source.get(name)
    cells = [
        f'<a href="#source-{escape(name)}">{escape(name)}</a>',
        escape(st.type_name)
        + "".join(f' <span class="state late">{escape(warning)}</span>' for warning in st.warnings),
        f'<span class="{view.state}">{view.state}</span>',
        f"{st.campaigns:,}",
        _state_counts(view),
        moment(st.last_success, now),
        f"{st.last_duration:.2f}s" if st.last_duration is not None else "-",
        f"{st.poll_interval:g}s",
        f"{warn_count(trouble.rate_limited)} / {warn_count(trouble.errors)}" if trouble else "-",
        _backlog(view),
        escape(st.last_error or "-"),
    ]
    return tr(*cells)


def sources_table(views: Sequence[SourceView], recent: Recent, now: float) -> str:
    window = "last hour" if not recent.since_start else "since start"
    return (
        "<h2>Sources</h2>\n<table>\n<tr><th>Source</th><th>Type</th><th>State</th>"
        "<th>Campaigns</th><th>By state</th><th>Last success</th><th>Last refresh took</th>"
        f"<th>Poll interval</th><th>429s / errors ({window})</th><th>Backlog</th>"
        "<th>Last error</th></tr>\n"
        + "".join(_source_row(v, recent, now) for v in views)
        + "</table>\n"
    )
