"""The upstream client's series, as telemetry's state: latency by endpoint, the learned pace
by endpoint class, and calls a class turned away. The client tells them
(``Telemetry.upstream``); Telemetry renders them with its other families."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field

from ..exposition.render import MetricFamily

REQUEST_DURATION = "campaign_exporter_upstream_request_duration_seconds"
PACE = "campaign_exporter_upstream_pace_requests_per_second"
THROTTLED = "campaign_exporter_upstream_throttled_total"
# A remote API over the internet: tens of milliseconds when well, seconds when not, and the
# default 10 s timeout as the last finite bucket but one.
BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass
class Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))
    total: float = 0.0
    count: int = 0

    def observe(self, seconds: float) -> None:
        index = bisect_left(BUCKETS, seconds)
        if index < len(BUCKETS):
            self.counts[index] += 1
        self.total += seconds
        self.count += 1


class UpstreamMetrics:
    def __init__(self) -> None:
        self.durations: dict[tuple[str, str], Histogram] = {}
        self.paces: dict[tuple[str, str], Callable[[], float | None]] = {}
        self.throttled: dict[tuple[str, str], int] = {}

    def observe(self, source: str, endpoint: str, seconds: float) -> None:
        hist = self.durations.get((source, endpoint))
        if hist is None:
            hist = self.durations[(source, endpoint)] = Histogram()
        hist.observe(seconds)

    def track_pace(
        self, source: str, endpoint_class: str, rate: Callable[[], float | None]
    ) -> None:
        """Export ``rate()`` as the class's pace while it is not None."""
        self.paces[(source, endpoint_class)] = rate

    def turned_away(self, source: str, endpoint_class: str) -> None:
        key = (source, endpoint_class)
        self.throttled[key] = self.throttled.get(key, 0) + 1

    def forget(self, source: str) -> None:
        for table in (self.durations, self.paces, self.throttled):
            for key in [k for k in table if k[0] == source]:
                del table[key]

    def families(self) -> list[MetricFamily]:
        duration = MetricFamily(
            REQUEST_DURATION,
            "histogram",
            "Upstream request latency, by endpoint: from sending the request to the end of "
            "the answer's body, one sample per attempt (waits for a pace or a retry not "
            "included).",
            ("source", "endpoint"),
        )
        for (source, endpoint), hist in sorted(self.durations.items()):
            cumulative = 0
            for bound, count in zip(BUCKETS, hist.counts, strict=True):
                cumulative += count
                duration.add((source, endpoint, repr(bound)), cumulative, "_bucket")
            duration.add((source, endpoint, "+Inf"), hist.count, "_bucket")
            duration.add((source, endpoint), hist.total, "_sum")
            duration.add((source, endpoint), hist.count, "_count")
        pace = MetricFamily(
            PACE,
            "gauge",
            "The request rate an endpoint class is held to, learned from the vendor's 429 "
            "answers; absent until the class draws its first 429.",
            ("source", "class"),
        )
        for (source, endpoint_class), rate in sorted(self.paces.items()):
            value = rate()
            if value is not None:
                pace.add((source, endpoint_class), value)
        throttled = MetricFamily(
            THROTTLED,
            "counter",
            "Calls not sent because their endpoint class was paced so slowly that the calls "
            "already waiting filled 5 s; the caller keeps its last good data.",
            ("source", "class"),
        )
        for key, count in sorted(self.throttled.items()):
            throttled.add(key, count)
        return [duration, pace, throttled]
