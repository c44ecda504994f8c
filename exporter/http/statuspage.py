"""The status page at /: the exporter's health, what needs attention, then every campaign,
filtered and paged by URL parameters. Server-rendered, no external assets, no scripts."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from .. import __version__
from ..config.thresholds import DEFAULTS, Thresholds
from ..sources import SOURCE_KINDS, Attention, CampaignRow, Display
from ..telemetry import URGENCIES, Backlog, Recent, SourceStatus, Telemetry
from .triage import Flagged, Query, by_state, needs_attention, page_of, span

PAUSED_RANK = 3  # a paused send: after the troubled ones, before the scheduled
REFRESH_SECONDS = 30  # long enough to type a search before the page reloads
FALLBACK = Display("done / total", "ratio")
NOTHING = "Nothing: no failed, overdue, stalled, over-threshold or unreadable campaign."
BEHIND_HINT = (
    "raise the vendor's quota and the source's rate_limits, shard (--total-shards, a token "
    "each) or narrow discovery (discovery.status, discovery.channels, max_campaigns); "
    "see the runbook, CampaignExporterFallingBehind"
)
NO_BACKLOG = Backlog({}, 0.0, 0)


def _e(text: object) -> str:
    return html.escape(str(text))


def _time(ts: float | None, now: float, seen: bool = False) -> str:
    """A moment as "12m ago" or "in 5m", the UTC time on hover; ``seen``: a moment the
    exporter saw, not one the vendor gave ("seen 12m ago")."""
    if ts is None:
        return "-"
    stamp = datetime.fromtimestamp(ts, UTC)
    rel = f"{span(now - ts)} ago" if ts <= now else f"in {span(ts - now)}"
    rel = f"seen {rel}" if seen else rel
    return (
        f'<time datetime="{stamp.isoformat()}" '
        f'title="{stamp.strftime("%Y-%m-%d %H:%M:%S UTC")}">{rel}</time>'
    )


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


def _views(
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


# -- the header: the exporter's own health ---------------------------------------------------


def _title(views: Sequence[SourceView], troubles: int) -> str:
    """``troubles``: every item under "Needs attention", the exporter's own (a source down
    or behind, a failed reload) and the campaigns'."""
    up = sum(v.state == "up" for v in views)
    down = [v.name for v in views if v.state == "down"]
    health = f"{up}/{len(views)} sources up" + (f" ({', '.join(down)} down)" if down else "")
    attention = f"{troubles} need attention" if troubles else "nothing needs attention"
    return f"{health}, {attention} - campaign-exporter"


def _health(telemetry: Telemetry, views: Sequence[SourceView], recent: Recent, now: float) -> str:
    up = sum(v.state == "up" for v in views)
    tone = "up" if up == len(views) and views else "down"
    parts = [f'<span class="{tone}">{up} of {len(views)} sources up</span>']
    if telemetry.config_reload_ok:
        parts.append(f"config loaded {_time(telemetry.config_reload_ts, now)}")
    else:
        parts.append(
            f'<span class="down">last config reload failed</span> '
            f"{_time(telemetry.config_reload_attempt, now)}, running the config loaded "
            f"{_time(telemetry.config_reload_ts, now)}"
        )
    window = (
        f"since start {span(recent.seconds)} ago"
        if recent.since_start
        else (f"in the last {span(recent.seconds)}")
    )
    total = recent.total
    parts.append(
        f"{window}: {_count(total.rate_limited)} answers of 429, "
        f"{_count(total.errors)} upstream errors, "
        f"{_count(total.failed_refreshes)} failed refreshes"
    )
    parts.append(f"shard {telemetry.shard.index} of {telemetry.shard.total} (0-based)")
    parts.append(f"version {_e(__version__)}")
    return '<p class="health">' + " &middot; ".join(parts) + "</p>\n"


def _count(n: int) -> str:
    return f'<b class="warn">{n:,}</b>' if n else "0"


def _state_counts(view: SourceView) -> str:
    links = [
        f'<a href="{_e(Query(source=view.name, state=state).href())}">{_e(state)}</a>&nbsp;{n:,}'
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
        f"{_e(urgency)}: {count:,} due, oldest waiting {span(wait)}"
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
        f'<a href="#source-{_e(name)}">{_e(name)}</a>',
        _e(st.type_name)
        + "".join(f' <span class="state late">{_e(warning)}</span>' for warning in st.warnings),
        f'<span class="{view.state}">{view.state}</span>',
        f"{st.campaigns:,}",
        _state_counts(view),
        _time(st.last_success, now),
        f"{st.last_duration:.2f}s" if st.last_duration is not None else "-",
        f"{st.poll_interval:g}s",
        f"{_count(trouble.rate_limited)} / {_count(trouble.errors)}" if trouble else "-",
        _backlog(view),
        _e(st.last_error or "-"),
    ]
    return _tr(*cells)


def _sources(views: Sequence[SourceView], recent: Recent, now: float) -> str:
    window = "last hour" if not recent.since_start else "since start"
    return (
        "<h2>Sources</h2>\n<table>\n<tr><th>Source</th><th>Type</th><th>State</th>"
        "<th>Campaigns</th><th>By state</th><th>Last success</th><th>Last refresh took</th>"
        f"<th>Poll interval</th><th>429s / errors ({window})</th><th>Backlog</th>"
        "<th>Last error</th></tr>\n"
        + "".join(_source_row(v, recent, now) for v in views)
        + "</table>\n"
    )


# -- what needs attention ------------------------------------------------------------------


def _down(view: SourceView, now: float) -> str:
    status = view.status
    since = (
        f"since its last success {_time(status.last_success, now)}"
        if status.last_success is not None
        else f"and has not succeeded since it started {_time(status.registered, now)}"
    )
    return f"source <b>{_e(view.name)}</b> is down {since}: {_e(status.last_error or 'no detail')}"


def _exporter_trouble(telemetry: Telemetry, views: Sequence[SourceView], now: float) -> list[str]:
    """The exporter's own troubles, as items of "Needs attention"."""
    items = [_down(v, now) for v in views if v.state == "down"]
    items += [
        f"source <b>{_e(v.name)}</b> is falling behind: its running campaigns' state is "
        f"{v.backlog.running_age / v.status.poll_interval:.1f} poll intervals old "
        f"({span(v.backlog.running_age)}), over {v.behind_after}; {BEHIND_HINT}"
        for v in views
        if v.behind
    ]
    if not telemetry.config_reload_ok:
        items.append(
            f"the last config reload failed: {_e(telemetry.config_reload_error or 'no detail')}"
        )
    return items


def _attention(exporter: Sequence[str], flagged: Sequence[Flagged], now: float) -> str:
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
    problems = "<br>".join(f'<span class="warn">{_e(f.text)}</span>' for f in flagged.findings)
    return _tr(
        f"<code>{_e(row.campaign_id)}</code>",
        f'<a href="#source-{_e(flagged.source)}">{_e(flagged.source)}</a>',
        _e(row.name),
        problems,
        *_details(row, flagged.display, flagged.attention, now),
    )


# -- every campaign, filtered and paged ----------------------------------------------------


def _state(row: CampaignRow, display: Display) -> str:
    state = f"{row.state} (paused)" if row.paused else row.state
    return f'<span class="state {display.tones.get(row.state, "")}">{_e(state)}</span>'


def _funnel(row: CampaignRow, display: Display) -> str:
    if row.total is None or row.done is None:
        return "-"
    share = min(1.0, row.done / row.total) if row.total else 0.0
    return (
        f'<div class="bar" title="{_e(display.progress)}: {row.done:,} of {row.total:,}">'
        f'<span style="width:{share * 100:.1f}%"></span></div>'
        f"<small>{row.done:,} / {row.total:,}</small>"
    )


def _ratio(row: CampaignRow, display: Display, attention: Attention) -> str:
    if row.failure_ratio is None:
        return "-"
    warn = ' class="warn"' if row.failure_ratio > attention.ratio_warn else ""
    return f'<span{warn} title="{_e(display.ratio)}">{row.failure_ratio * 100:.2f}%</span>'


def _campaign_row(row: CampaignRow, view: SourceView, now: float) -> str:
    return _tr(
        f"<code>{_e(row.campaign_id)}</code>",
        _e(row.name),
        *_details(row, view.display, view.attention, now),
        _e(row.error or ""),
    )


def _details(row: CampaignRow, display: Display, attention: Attention, now: float) -> list[str]:
    """The cells both campaign tables share, under ``_detail_headings``."""
    return [
        _state(row, display),
        _e(row.channel or "-"),
        _time(row.send_at, now),
        _time(row.started_at, now),
        _time(row.finished_at, now, seen=row.times_learned),
        _funnel(row, display),
        _ratio(row, display, attention),
        _time(row.updated_at, now),
    ]


def _detail_headings(progress: str, ratio: str) -> str:
    headings = ("State", "Channel", "Send at", "Started", "Ended", progress, ratio, "Updated")
    return "".join(f"<th>{_e(h)}</th>" for h in headings)


def _tr(*cells: str) -> str:
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>\n"


def _rank(row: CampaignRow, display: Display) -> int:
    if row.paused:
        return PAUSED_RANK
    return display.state_rank.get(row.state, max(display.state_rank.values(), default=0) + 1)


def _pager(query: Query, page: int, pages: int) -> str:
    if pages == 1:
        return ""
    links = [f"page {page} of {pages}"]
    if page > 1:
        links.insert(0, f'<a href="{_e(query.href(page=page - 1))}">&larr; previous</a>')
    if page < pages:
        links.append(f'<a href="{_e(query.href(page=page + 1))}">next &rarr;</a>')
    return '<p class="pager">' + " &middot; ".join(links) + "</p>\n"


def _campaign_table(view: SourceView, query: Query, now: float) -> str:
    display = view.display
    matching = [r for r in view.rows if query.matches(r)]
    matching.sort(key=lambda r: (_rank(r, display), r.name, r.campaign_id))
    shown, page, pages = page_of(matching, query.page)
    what = f"{len(view.rows):,} campaigns" + (
        f", {len(matching):,} match" if query.filtered else ""
    )
    return (
        f'<h3 id="source-{_e(view.name)}">{_e(view.name)} '
        f"<small>({_e(view.status.type_name)}, {what})</small></h3>\n"
        + _pager(query, page, pages)
        + '<table class="campaigns">\n<tr><th>Campaign</th><th>Name</th>'
        + _detail_headings(display.progress, display.ratio)
        + "<th>Error</th></tr>\n"
        + "".join(_campaign_row(r, view, now) for r in shown)
        + "</table>\n"
        + _pager(query, page, pages)
    )


def _options(name: str, label: str, values: Iterable[str], chosen: str) -> str:
    opts = [f'<option value="">any {label}</option>'] + [
        f'<option value="{_e(v)}"{" selected" if v == chosen else ""}>{_e(v)}</option>'
        for v in sorted(set(values))
    ]
    return f'<select name="{name}" aria-label="{label}">{"".join(opts)}</select>'


def _filter_form(views: Sequence[SourceView], query: Query) -> str:
    rows = [r for v in views for r in v.rows]
    return (
        '<form method="get" action="#campaigns">'
        + _options("source", "source", (v.name for v in views), query.source)
        + _options("state", "state", (r.state for r in rows), query.state)
        + _options("channel", "channel", (r.channel for r in rows if r.channel), query.channel)
        + f' <input type="search" name="q" value="{_e(query.text)}" '
        'placeholder="name or id" aria-label="search">'
        ' <button type="submit">Filter</button>'
        + (' <a href="./#campaigns">clear</a>' if query.filtered else "")
        + "</form>\n"
    )


def _campaigns(views: Sequence[SourceView], query: Query, now: float) -> str:
    tables = "".join(_campaign_table(v, query, now) for v in views if query.wants_source(v.name))
    return (
        '<section id="campaigns">\n<h2>All campaigns</h2>\n'
        + _filter_form(views, query)
        + (tables or "<p>No source matches.</p>\n")
        + "</section>\n"
    )


def render_status_page(
    telemetry: Telemetry,
    query: Query | None = None,
    recent: Recent | None = None,
    now: float | None = None,
    metrics_path: str = "/metrics",
    backlogs: Mapping[str, Backlog] | None = None,
    thresholds: Thresholds = DEFAULTS,
) -> str:
    """The page; ``recent`` is ``telemetry.recent()`` and ``backlogs``
    ``telemetry.backlogs()``, taken on the caller's thread; ``metrics_path`` is where
    /metrics is served (``--web.telemetry-path``); ``thresholds`` the config's, as the
    alerts' (what needs attention)."""
    query = query or Query()
    recent = recent if recent is not None else telemetry.recent()
    now = now if now is not None else telemetry.clock.time()
    backlogs = backlogs if backlogs is not None else telemetry.backlogs()
    views = _views(telemetry, backlogs, thresholds)
    flagged = needs_attention(((v.name, v.display, v.attention, v.rows) for v in views), now)
    exporter = _exporter_trouble(telemetry, views, now)
    return PAGE.format(
        title=_e(_title(views, len(exporter) + len(flagged))),
        refresh=REFRESH_SECONDS,
        health=_health(telemetry, views, recent, now),
        sources=_sources(views, recent, now),
        attention=_attention(exporter, flagged, now),
        campaigns=_campaigns(views, query, now),
        metrics_href=_e(metrics_path.lstrip("/")),
        metrics_path=_e(metrics_path),
    )


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta http-equiv="refresh" content="{refresh}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: system-ui, sans-serif; margin: 1em 2em; color: #222; }}
h1 {{ margin: 0 0 .2em; }} h2 {{ margin: 1em 0 .4em; }}
table {{ border-collapse: collapse; margin-bottom: 1em; }}
td, th {{ border: 1px solid #ddd; padding: .2em .45em; text-align: left; font-size: 13px; }}
th {{ background: #f4f4f4; }}
code {{ font-size: 11px; color: #555; }}
.health {{ font-size: 15px; }}
.up {{ color: #1a7f37; font-weight: bold; }} .down {{ color: #c62828; font-weight: bold; }}
.starting {{ color: #8a6d00; }}
.state {{ padding: 0 .4em; border-radius: 3px; background: #eee; white-space: nowrap; }}
.state.active {{ background: #d7ecff; }}
.state.bad {{ background: #ffd9d9; }}
.state.late {{ background: #ffe9c2; }}
.state.done {{ background: #dcf5dc; }}
.warn {{ color: #c62828; font-weight: bold; }}
#attention h2 {{ color: #c62828; }}
time {{ white-space: nowrap; }}
.bar {{ width: 120px; height: 9px; background: #eee; border-radius: 5px; overflow: hidden; }}
.bar span {{ display: block; height: 100%; background: #2f81f7; }}
form {{ margin: .5em 0 1em; }}
small {{ color: #666; }}
</style></head>
<body>
<h1>campaign-exporter</h1>
{health}<p>Campaign sends as Prometheus metrics:
<a href="{metrics_href}">{metrics_path}</a> &middot; <a href="-/healthy">health</a> &middot;
<a href="-/ready">readiness</a>. This page reloads every {refresh} seconds.</p>
{sources}{attention}{campaigns}</body></html>
"""
