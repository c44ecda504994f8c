"""The status page's "All campaigns": a table per source, filtered and paged by URL
parameters from a plain form."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ...sources import CampaignRow, Display
from ..triage import Query, page_of
from .cells import detail_headings, details, escape, tr
from .view import SourceView

PAUSED_RANK = 3  # a paused send: after the troubled ones, before the scheduled


def _campaign_row(row: CampaignRow, view: SourceView, now: float) -> str:
    return tr(
        f"<code>{escape(row.campaign_id)}</code>",
        escape(row.name),
        *details(row, view.display, view.attention, now),
        escape(row.error or ""),
    )


def _rank(row: CampaignRow, display: Display) -> int:
    if row.paused:
        return PAUSED_RANK
    return display.state_rank.get(row.state, max(display.state_rank.values(), default=0) + 1)


def _pager(query: Query, page: int, pages: int) -> str:
    if pages == 1:
        return ""
    links = [f"page {page} of {pages}"]
    if page > 1:
        links.insert(0, f'<a href="{escape(query.href(page=page - 1))}">&larr; previous</a>')
    if page < pages:
        links.append(f'<a href="{escape(query.href(page=page + 1))}">next &rarr;</a>')
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
        f'<h3 id="source-{escape(view.name)}">{escape(view.name)} '
        f"<small>({escape(view.status.type_name)}, {what})</small></h3>\n"
        + _pager(query, page, pages)
        + '<table class="campaigns">\n<tr><th>Campaign</th><th>Name</th>'
        + detail_headings(display.progress, display.ratio)
        + "<th>Error</th></tr>\n"
        + "".join(_campaign_row(r, view, now) for r in shown)
        + "</table>\n"
        + _pager(query, page, pages)
    )


def _options(name: str, label: str, values: Iterable[str], chosen: str) -> str:
    opts = [f'<option value="">any {label}</option>'] + [
        f'<option value="{escape(v)}"{" selected" if v == chosen else ""}>{escape(v)}</option>'
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
        + f' <input type="search" name="q" value="{escape(query.text)}" '
        'placeholder="name or id" aria-label="search">'
        ' <button type="submit">Filter</button>'
        + (' <a href="./#campaigns">clear</a>' if query.filtered else "")
        + "</form>\n"
    )


def campaigns_section(views: Sequence[SourceView], query: Query, now: float) -> str:
    tables = "".join(_campaign_table(v, query, now) for v in views if query.wants_source(v.name))
    return (
        '<section id="campaigns">\n<h2>All campaigns</h2>\n'
        + _filter_form(views, query)
        + (tables or "<p>No source matches.</p>\n")
        + "</section>\n"
    )
