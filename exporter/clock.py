"""Time, injectable: wall time for what is exported, monotonic time for intervals, and
sleeping on the same clock."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

import anyio


class Clock(Protocol):
    def time(self) -> float:
        """Unix seconds."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back."""

    async def sleep(self, seconds: float) -> None:
        """Wait this long on this clock."""


class SystemClock:
    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


@dataclass
class ManualClock:
    """A clock that moves only when told to, or when slept on (for tests)."""

    wall: float = 1_800_000_000.0
    mono: float = 1_000.0

    def time(self) -> float:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds

    async def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))
        await anyio.lowlevel.checkpoint()


SYSTEM_CLOCK = SystemClock()
