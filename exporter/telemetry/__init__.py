"""The exporter's own health: per-source status, counters of upstream traffic, the status
page's recent trouble and the self-metrics table, kept by ``Telemetry``, the one owner of
that state. It may import the top package (``__version__``), the clock, the books'
reasons, report and shard, and the exposition's ``MetricFamily``; nothing that tells it
what happened (the upstream client, the sources, the run, the HTTP side)."""

from .health import Telemetry

__all__ = ["Telemetry"]
