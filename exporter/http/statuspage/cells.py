"""The status page's small pieces: escaping, moments as "12m ago", table rows and the
cells both campaign tables share."""

from __future__ import annotations

import html
from datetime import UTC, datetime

from ...sources import Attention, CampaignRow, Display
from ..triage import span


def escape(text: object) -> str:
    return html.escape(str(text))


def moment(ts: float | None, now: float, seen: bool = False) -> str:
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


def _state(row: CampaignRow, display: Display) -> str:
    state = f"{row.state} (paused)" if row.paused else row.state
    return f'<span class="state {display.tones.get(row.state, "")}">{escape(state)}</span>'


def _funnel(row: CampaignRow, display: Display) -> str:
    if row.total is None or row.done is None:
        return "-"
    share = min(1.0, row.done / row.total) if row.total else 0.0
    return (
        f'<div class="bar" title="{escape(display.progress)}: {row.done:,} of {row.total:,}">'
        f'<span style="width:{share * 100:.1f}%"></span></div>'
        f"<small>{row.done:,} / {row.total:,}</small>"
    )


def _ratio(row: CampaignRow, display: Display, attention: Attention) -> str:
    if row.failure_ratio is None:
        return "-"
    warn = ' class="warn"' if row.failure_ratio > attention.ratio_warn else ""
    return f'<span{warn} title="{escape(display.ratio)}">{row.failure_ratio * 100:.2f}%</span>'


def details(row: CampaignRow, display: Display, attention: Attention, now: float) -> list[str]:
    """The cells both campaign tables share, under ``detail_headings``."""
    return [
        _state(row, display),
        escape(row.channel or "-"),
        moment(row.send_at, now),
        moment(row.started_at, now),
        moment(row.finished_at, now, seen=row.times_learned),
        _funnel(row, display),
        _ratio(row, display, attention),
        moment(row.updated_at, now),
    ]


def detail_headings(progress: str, ratio: str) -> str:
    headings = ("State", "Channel", "Send at", "Started", "Ended", progress, ratio, "Updated")
    return "".join(f"<th>{escape(h)}</th>" for h in headings)


def tr(*cells: str) -> str:
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>\n"


def warn_count(n: int) -> str:
    return f'<b class="warn">{n:,}</b>' if n else "0"
