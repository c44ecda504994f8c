"""The status page at /: sources, and a table of campaigns per source. Server-rendered,
no external assets, refreshing itself."""

from __future__ import annotations

import html
import time
from collections.abc import Iterable
from datetime import UTC, datetime

from . import __version__
from .sources import SOURCE_KINDS, CampaignRow, Display
from .telemetry import SourceStatus, Telemetry

MAX_ROWS = 200
PAUSED_RANK = 3  # a paused send: after the troubled ones, before the scheduled


def _ago(ts: float | None) -> str:
    if ts is None:
        return "never"
    seconds = max(0.0, time.time() - ts)
    if seconds < 120:
        return f"{seconds:.0f}s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m ago"
    return f"{seconds / 3600:.1f}h ago"


def _when(ts: float | None) -> str:
    if ts is None:
        return "never"
    stamp = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"{stamp} ({_ago(ts)})"


def _source_row(name: str, st: SourceStatus) -> str:
    state = "up" if st.up else ("down" if st.last_attempt is not None else "starting")
    cells = [
        f'<a href="#source-{html.escape(name)}">{html.escape(name)}</a>',
        html.escape(st.type_name),
        f'<span class="{state}">{state}</span>',
        str(st.campaigns),
        _when(st.last_success),
        f"{st.last_duration:.2f}s" if st.last_duration is not None else "-",
        f"{st.poll_interval:g}s",
        html.escape(st.last_error or "-"),
    ]
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>\n"


def _funnel(row: CampaignRow) -> str:
    if row.total is None or row.done is None:
        return "-"
    share = min(1.0, row.done / row.total) if row.total else 0.0
    return (
        f'<div class="bar" title="{row.done:,} of {row.total:,}">'
        f'<span style="width:{share * 100:.1f}%"></span></div>'
        f"<small>{row.done:,} / {row.total:,}</small>"
    )


def _campaign_row(row: CampaignRow, display: Display) -> str:
    ratio = "-" if row.failure_ratio is None else f"{row.failure_ratio * 100:.2f}%"
    high = row.failure_ratio is not None and row.failure_ratio > display.ratio_warn
    warn = ' class="warn"' if high else ""
    state = f"{row.state} (paused)" if row.paused else row.state
    cells = [
        f"<code>{html.escape(row.campaign_id)}</code>",
        html.escape(row.name),
        f'<span class="state {display.tones.get(row.state, "")}">{html.escape(state)}</span>',
        _funnel(row),
        f"<span{warn}>{ratio}</span>",
        _ago(row.updated_at),
        html.escape(row.error or ""),
    ]
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>\n"


def _rank(row: CampaignRow, display: Display) -> int:
    if row.paused:
        return PAUSED_RANK
    return display.state_rank.get(row.state, max(display.state_rank.values(), default=0) + 1)


def _campaign_table(name: str, st: SourceStatus) -> str:
    kind = SOURCE_KINDS.get(st.type_name)
    display = kind.display if kind is not None else Display("done / total", "ratio")
    rows: list[CampaignRow] = sorted(
        st.rows, key=lambda r: (_rank(r, display), r.name, r.campaign_id)
    )
    shown = rows[:MAX_ROWS]
    note = (
        f"<p>Showing {len(shown)} of {len(rows)}, active first; every campaign is on "
        f'<a href="metrics">/metrics</a>.</p>'
        if len(rows) > len(shown)
        else ""
    )
    return (
        f'<h2 id="source-{html.escape(name)}">{html.escape(name)} '
        f"<small>({html.escape(st.type_name)}, {len(rows)} campaigns)</small></h2>\n{note}"
        '<table class="campaigns">\n'
        f"<tr><th>Campaign</th><th>Name</th><th>State</th><th>{html.escape(display.progress)}"
        f"</th><th>{html.escape(display.ratio)}</th><th>Updated</th><th>Error</th></tr>\n"
        + "".join(_campaign_row(r, display) for r in shown)
        + "</table>\n"
    )


def render_status_page(telemetry: Telemetry) -> str:
    sources: Iterable[tuple[str, SourceStatus]] = sorted(telemetry.sources.items())
    summary = "".join(_source_row(n, s) for n, s in sources)
    tables = "".join(_campaign_table(n, s) for n, s in sorted(telemetry.sources.items()))
    return PAGE.format(version=html.escape(__version__), sources=summary, tables=tables)


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>campaign-exporter</title>
<meta http-equiv="refresh" content="15">
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em 2em; color: #222; }}
table {{ border-collapse: collapse; margin-bottom: 1.5em; }}
td, th {{ border: 1px solid #ddd; padding: .25em .5em; text-align: left; font-size: 14px; }}
th {{ background: #f4f4f4; }}
code {{ font-size: 12px; color: #555; }}
.up {{ color: #1a7f37; font-weight: bold; }} .down {{ color: #c62828; font-weight: bold; }}
.starting {{ color: #8a6d00; }}
.state {{ padding: 0 .4em; border-radius: 3px; background: #eee; white-space: nowrap; }}
.state.active {{ background: #d7ecff; }}
.state.bad {{ background: #ffd9d9; }}
.state.late {{ background: #ffe9c2; }}
.state.done {{ background: #dcf5dc; }}
.warn {{ color: #c62828; font-weight: bold; }}
.bar {{ width: 160px; height: 10px; background: #eee; border-radius: 5px; overflow: hidden; }}
.bar span {{ display: block; height: 100%; background: #2f81f7; }}
small {{ color: #666; }}
</style></head>
<body>
<h1>campaign-exporter</h1>
<p>Version {version}. Campaign sends as Prometheus metrics:
<a href="metrics">/metrics</a> &middot; <a href="-/healthy">health</a> &middot;
<a href="-/ready">readiness</a>. This page refreshes every 15 seconds.</p>
<h2>Sources</h2>
<table>
<tr><th>Source</th><th>Type</th><th>State</th><th>Campaigns</th><th>Last success</th>
<th>Last refresh took</th><th>Poll interval</th><th>Last error</th></tr>
{sources}</table>
{tables}</body></html>
"""
