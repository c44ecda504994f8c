"""How fast one source may call its upstream: a configured token bucket (a hard ceiling
over every call of the source) and, per endpoint class, a pace learned from 429 answers;
the ``Turn`` of a class's budget the scheduler reserves for a read before choosing it.

Both run on a ``Clock``, so tests drive them on virtual time.
"""

from __future__ import annotations

import math
from collections import deque
from contextvars import ContextVar
from dataclasses import dataclass

import anyio

from ..books.records import LearnedPace
from ..clock import SYSTEM_CLOCK, Clock

# After its first 429 a class starts from 0.9 of what the vendor accepted in the last
# second (its burst, most likely; at least 1 request) and doubles its pace each period of
# use, until a 429.
GROWTH_PERIOD = 0.5
GROWTH_ANSWERS = 2  # a period lasts at least this many answers at the current pace
SEED_SECONDS = 1.0
# A 429 sets the ceiling: the vendor's measured pace, or the pace that drew it when the
# class had not run long enough at that pace to measure. Under a measured ceiling the pace
# climbs half the gap to 0.93 of it each period (a 1 s measure that caught part of the
# burst reads a little high), then probes on: by 0.1% of the ceiling per second at
# first, the step doubling every 5 s without a 429, so a probe past the vendor's pace
# (which costs a 429 and a pause) comes rarely, yet a ceiling set by a passing 429 is
# left behind within a minute. Without a measured ceiling the pace probes by a step that
# starts at 2% of it and doubles each period, up to 16%.
PLATEAU = 0.93
SNAP = 0.01  # a gap this small (of the ceiling) is closed at once
PROBE_MEASURED = 0.001  # of the ceiling, per second
PROBE_DOUBLES = 5.0  # seconds
PROBE_FIRST = 0.02
PROBE_MOST = 0.16
# The vendor is measured over the last second, or 8 answers when that is longer, of an
# unpaused stretch at least that long. After a measured 429 the pace drops to 0.9 of the
# ceiling; after the 429 that ends the doubling it halves (the pace before the last
# doubling drew none); after any other, to 0.8 of the pace that drew it.
MEASURE_SECONDS = 1.0
MEASURE_ANSWERS = 8
SLOW_TO = 0.9
SLOW_UNMEASURED = 0.8
MIN_RATE = 0.1
# Without Retry-After a class pauses 0.25 s after its first 429, doubling up to 8 s.
PAUSE_BASE = 0.25
PAUSE_CAP = 8.0
# A class whose calls already waiting need longer than this to be served at its measured
# pace turns further first attempts away at once, so a slow class cannot hold every
# worker of a source while its other classes have work.
QUEUE_HORIZON = 5.0


class TokenBucket:
    """Requests per second with a burst, shared by every call of a source."""

    def __init__(self, rate: float, burst: int, clock: Clock = SYSTEM_CLOCK) -> None:
        self.rate = rate
        self.capacity = float(burst)
        self.tokens = self.capacity
        self.clock = clock
        self.stamp = clock.monotonic()
        self.lock = anyio.Lock()

    async def take(self) -> None:
        async with self.lock:
            while True:
                now = self.clock.monotonic()
                # Tokens accrue from the last stamp, oversleep included: a timer that
                # wakes late must not cost the budget anything.
                self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
                self.stamp = now
                if self.tokens >= 1.0:
                    self.tokens -= 1.0
                    return
                await self.clock.sleep((1.0 - self.tokens) / self.rate)


class Pace:
    """The learned pace of one endpoint class.

    Unlimited until the class draws a 429. From then on: the class pauses for
    ``Retry-After``; its calls start one at a time at the pace (no herd when a pause
    ends); the pace rises while the class uses it, and drops at each 429. One drop per
    pace: 429s to calls sent before the last drop only extend the pause.
    """

    def __init__(self) -> None:
        self.rate: float | None = None  # requests per second; None: not limited yet
        self.ceiling = math.inf  # the pace the last 429 says is too fast
        self.measured = False  # whether the ceiling is the vendor's measured pace
        self.doubling = False
        self.probe = PROBE_FIRST
        self.next_at = -math.inf  # the earliest start of the next call
        self.paused_until = -math.inf
        self.epoch = 0  # bumped at each drop
        self.answers: deque[float] = deque()  # when answers other than 429 came
        self.stretch_from = -math.inf  # when the current unpaused stretch began
        self.grown_at = -math.inf
        self.streak = 0  # 429s since the last other answer
        self.waiting = 0  # calls waiting for their slot

    @classmethod
    def resumed(cls, learned: LearnedPace) -> Pace:
        """A pace that goes on from what an earlier run learned: it starts at that pace,
        not unlimited (no burst of 429s to learn it again), and grows or drops from there."""
        pace = cls()
        pace.rate = max(MIN_RATE, learned.rate)
        pace.ceiling = math.inf if learned.ceiling is None else learned.ceiling
        pace.measured = learned.measured
        pace.probe = PROBE_MEASURED if learned.measured else PROBE_FIRST
        return pace

    def learned(self) -> LearnedPace | None:
        """What to keep of this pace; None while the class has drawn no 429."""
        if self.rate is None:
            return None
        ceiling = None if math.isinf(self.ceiling) else self.ceiling
        return LearnedPace(self.rate, ceiling, self.measured)

    def start(self, now: float) -> float:
        """When the next call may start, asked at ``now``."""
        if self.stretch_from == -math.inf:
            self.stretch_from = now  # measuring starts with the first call
        return max(now, self.paused_until, self.next_at)

    def took(self, start: float) -> None:
        """A call took the slot planned for ``start`` (a late wake-up costs nothing)."""
        if self.rate is not None:
            self.next_at = start + 1.0 / self.rate

    def crowded(self) -> bool:
        """True when the calls already waiting fill the queue horizon at this pace, once
        the class has a ceiling (while it still doubles from its seed, calls wait)."""
        if self.rate is None or self.doubling:
            return False
        return self.waiting / self.rate > QUEUE_HORIZON

    def answered(self, now: float) -> None:
        """An answer other than 429 arrived."""
        self.answers.append(now)
        keep = now - self._memory()
        while self.answers[0] < keep:
            self.answers.popleft()
        self.streak = 0
        if self.rate is not None and now - self.grown_at >= self._period():
            self._grow(now)

    def limited(self, now: float, epoch: int, retry_after: float | None) -> None:
        """A 429 arrived for a call sent in pace ``epoch``."""
        pause = retry_after
        if pause is None:
            pause = min(PAUSE_CAP, PAUSE_BASE * 2**self.streak)
        self.streak += 1
        self.paused_until = max(self.paused_until, now + pause)
        if epoch != self.epoch:
            return
        self._drop(now)
        self.epoch += 1
        # calls queued at the old pace queue again, one at a time after the pause
        self.next_at = self.paused_until
        self.stretch_from = self.grown_at = self.paused_until

    def _memory(self) -> float:
        """How far back answers are needed: for the seed, a measure, or a period."""
        if self.rate is None:
            return SEED_SECONDS
        return max(MEASURE_SECONDS, MEASURE_ANSWERS / self.rate, self._period())

    def _count_since(self, since: float) -> int:
        count = 0
        for t in reversed(self.answers):  # newest first: only the window is walked
            if t <= since:
                break
            count += 1
        return count

    def _drop(self, now: float) -> None:
        if self.rate is None:
            seed = max(1, self._count_since(now - SEED_SECONDS)) / SEED_SECONDS
            self.rate = SLOW_TO * seed
            self.doubling = True
            return
        span = max(MEASURE_SECONDS, MEASURE_ANSWERS / self.rate)
        self.measured = not self.doubling and now - self.stretch_from >= span
        if self.measured:
            self.ceiling = min(self.rate, self._count_since(now - span) / span)
            self.rate = max(MIN_RATE, SLOW_TO * self.ceiling)
            self.probe = PROBE_MEASURED
        else:  # still doubling, or a 429 soon after a pause: too fast, not yet measured
            self.ceiling = self.rate
            factor = 0.5 if self.doubling else SLOW_UNMEASURED
            self.rate = max(MIN_RATE, factor * self.rate)
            self.probe = PROBE_FIRST
        self.doubling = False

    def _period(self) -> float:
        assert self.rate is not None
        return max(GROWTH_PERIOD, GROWTH_ANSWERS / self.rate)

    def _grow(self, now: float) -> None:
        assert self.rate is not None
        period = self._period()
        elapsed = min(now - self.grown_at, 2 * period)
        self.grown_at = now
        if self._count_since(now - period) < 0.5 * self.rate * period:
            return  # the class does not use its pace: nothing learned about more
        if self.doubling:
            self.rate *= 2
        elif not self.measured:
            self.rate *= 1 + self.probe
            self.probe = min(PROBE_MOST, 2 * self.probe)
        elif self.rate < PLATEAU * self.ceiling:
            gap = PLATEAU * self.ceiling - self.rate
            self.rate += gap if gap < SNAP * self.ceiling else gap / 2
        else:
            self.rate += self.probe * self.ceiling * elapsed
            self.probe = min(PROBE_MOST, self.probe * 2 ** (elapsed / PROBE_DOUBLES))


@dataclass
class Turn:
    """A slot of an endpoint class's budget, taken before the read that uses it was chosen."""

    endpoint_class: str
    epoch: int
    used: bool = False


# The slot the scheduler took for the read running in this task: its first call of that
# class sends at once.
reserved_turn: ContextVar[Turn | None] = ContextVar("reserved_turn", default=None)
