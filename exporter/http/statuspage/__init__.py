"""The status page at /: the exporter's health (``header``), what needs attention
(``attention``, what the triage flags), then every campaign (``campaigns``), filtered and
paged by URL parameters; ``page`` puts them together, ``view`` and ``cells`` are what they
share. Server-rendered, no external assets, no scripts."""

from .page import render_status_page

__all__ = ["render_status_page"]
