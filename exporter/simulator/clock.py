"""Simulated time: real time sped up (or frozen), and moved forward on demand."""

from __future__ import annotations

import time


class SimClock:
    def __init__(self, speed: float = 1.0, start: float | None = None) -> None:
        self._real = time.monotonic()
        self._sim = time.time() if start is None else start
        self.speed = speed

    def now(self) -> float:
        return self._sim + (time.monotonic() - self._real) * self.speed

    def set_speed(self, speed: float) -> None:
        self._sim, self._real = self.now(), time.monotonic()
        self.speed = speed

    def advance(self, seconds: float) -> None:
        self._sim += seconds
