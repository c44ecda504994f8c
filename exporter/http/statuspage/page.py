"""The status page at /, put together: the header, what needs attention, every campaign,
in one server-rendered document with no external assets and no scripts."""

from __future__ import annotations

from collections.abc import Mapping

from ...config.thresholds import DEFAULTS, Thresholds
from ...telemetry import Telemetry
from ...telemetry.recent import Recent
from ...telemetry.status import Backlog
from ..triage import Query, needs_attention
from .attention import attention_section, exporter_trouble
from .campaigns import campaigns_section
from .cells import escape
from .header import health, sources_table, title
from .view import views_of

REFRESH_SECONDS = 30  # long enough to type a search before the page reloads


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
    views = views_of(telemetry, backlogs, thresholds)
    flagged = needs_attention(((v.name, v.display, v.attention, v.rows) for v in views), now)
    exporter = exporter_trouble(telemetry, views, now)
    return PAGE.format(
        title=escape(title(views, len(exporter) + len(flagged))),
        refresh=REFRESH_SECONDS,
        health=health(telemetry, views, recent, now),
        sources=sources_table(views, recent, now),
        attention=attention_section(exporter, flagged, now),
        campaigns=campaigns_section(views, query, now),
        metrics_href=escape(metrics_path.lstrip("/")),
        metrics_path=escape(metrics_path),
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
