"""Time, injectable: wall time for what is exported, monotonic time for intervals, and
sleeping on the same clock. One clock is threaded through the whole exporter (``RunOptions``
-> ``Fleet`` -> poll loop, ledger, upstream client, telemetry)."""

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


class SteppedClock:
    """Real time that a test can move forward (for whole-exporter tests).

    Between steps it runs as the system clock does, so timeouts, retries and pacing behave
    as in production; ``advance`` moves it forward at once and wakes every sleep that the
    step carries past its end, so a poll due in an hour happens now. Step it from the
    event loop it sleeps on.
    """

    def __init__(self, wall: float | None = None) -> None:
        self._wall_offset = 0.0 if wall is None else wall - time.time()
        self._stepped = 0.0
        self._sleepers: set[anyio.Event] = set()

    def time(self) -> float:
        return time.time() + self._wall_offset + self._stepped

    def monotonic(self) -> float:
        return time.monotonic() + self._stepped

    def advance(self, seconds: float) -> None:
        self._stepped += max(0.0, seconds)
        for sleeper in self._sleepers:
            sleeper.set()

    async def sleep(self, seconds: float) -> None:
        end = self.monotonic() + seconds
        while (left := end - self.monotonic()) > 0:
            stepped = anyio.Event()
            self._sleepers.add(stepped)
            try:
                with anyio.move_on_after(left):
                    await stepped.wait()
            finally:
                self._sleepers.discard(stepped)
        await anyio.lowlevel.checkpoint()


SYSTEM_CLOCK = SystemClock()
