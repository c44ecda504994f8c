"""A round of one source: a listing walk and every read due when it landed (and what
those make due at once). Telemetry's refreshes count rounds: a round's report is recorded
with the publication that shows what it read."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..books.reads import Outcome, Read, RefreshReport, SourceError
from ..books.reasons import SkipReason
from .readqueue import Key


@dataclass
class Round:
    """A listing walk and the reads due when it landed."""

    started: float  # Unix time the walk was sent
    started_mono: float
    landed: float | None = None  # monotonic time the walk landed: reads due by then count
    keys: set[Key] = field(default_factory=set)  # reads of the round not landed yet
    polled: int = 0
    failed: int = 0
    failure: SourceError | None = None
    skipped: Counter[SkipReason] = field(default_factory=Counter)  # by the last listing

    def walk_landed(self, outcome: Outcome[Any], now: float, due: set[Key]) -> None:
        """The walk that began the round landed at ``now``; ``due`` are the reads due by
        then (queued or in flight): the rest of the round."""
        self.landed = now
        self.failure = outcome.failure
        self.polled += outcome.polled
        self.keys = due

    def read_landed(
        self, read: Read, outcome: Outcome[Any], follow: list[Read], now: float
    ) -> None:
        """One of the round's reads landed; what it makes due now is the round's too."""
        self.keys.discard(read.key)
        self.polled += outcome.polled
        if outcome.failure is not None:
            self.failed += max(1, len(outcome.failed))
        self.keys |= {r.key for r in follow if r.due <= now and r.key != read.key}

    @property
    def over(self) -> bool:
        """The walk landed, and every read of the round after it."""
        return self.landed is not None and not self.keys

    def report(self, campaigns: int) -> RefreshReport:
        """The round as telemetry records it, with the books' size: failed when the walk
        did, or when half its campaign reads or more did."""
        failure = self.failure
        if failure is None and self.polled and self.failed * 2 >= self.polled:
            failure = SourceError(f"{self.failed} of {self.polled} campaign reads failed")
        return RefreshReport(
            polled=self.polled,
            failed=self.failed,
            skipped=self.skipped,
            campaigns=campaigns,
            failure=failure,
        )
