"""The counter telemetry keeps its counts in: labelled and monotonic, in a plain dict the
self-metrics table reads (not prometheus_client's, which would need its own registry)."""

from __future__ import annotations

from collections import defaultdict


class Counter:
    """A labelled monotonic counter kept in a dict."""

    def __init__(self) -> None:
        self.values: defaultdict[tuple[str, ...], float] = defaultdict(float)

    def inc(self, labels: tuple[str, ...], amount: float = 1.0) -> None:
        self.values[labels] += amount

    def get(self, labels: tuple[str, ...]) -> float:
        return self.values.get(labels, 0.0)
