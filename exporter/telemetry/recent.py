"""The status page's recent trouble: each source's 429s, upstream errors and failed
refreshes over the last hour (to the minute), from tallies of telemetry's counters taken
as it goes, so the window is a subtraction."""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..books.reasons import ErrorReason
from .counters import Counter
from .status import SourceStatus

RECENT_WINDOW = 3600.0  # "recent trouble" on the status page: the last hour
# Answers that are how the API says "not this one" (a campaign type it does not serve, a
# campaign deleted): counted in errors_total, but no trouble for an operator.
NOT_TROUBLE = frozenset({ErrorReason.UNSUPPORTED, ErrorReason.NOT_FOUND})
TALLY_SPACING = 60.0  # so the window is an hour to the minute, from at most ~62 tallies


@dataclass(frozen=True)
class Trouble:
    """Counts of what went wrong with one source."""

    rate_limited: int = 0  # answers of 429
    errors: int = 0  # failed upstream requests, but for NOT_TROUBLE
    failed_refreshes: int = 0

    def __sub__(self, other: Trouble) -> Trouble:
        # A source removed and added again starts from zero: never a negative count.
        return Trouble(
            max(0, self.rate_limited - other.rate_limited),
            max(0, self.errors - other.errors),
            max(0, self.failed_refreshes - other.failed_refreshes),
        )

    def __add__(self, other: Trouble) -> Trouble:
        return Trouble(
            self.rate_limited + other.rate_limited,
            self.errors + other.errors,
            self.failed_refreshes + other.failed_refreshes,
        )


@dataclass(frozen=True)
class Tally:
    """Each source's trouble counters as they stood at one moment."""

    at: float
    counts: Mapping[str, Trouble]


@dataclass(frozen=True)
class Recent:
    """Trouble within a recent window: the last hour, or since start when younger."""

    seconds: float
    since_start: bool
    by_source: Mapping[str, Trouble]

    @property
    def total(self) -> Trouble:
        return sum(self.by_source.values(), Trouble())


class TroubleWindow:
    """Tallies of each source's trouble, oldest first; the first is the newest one at least
    an hour old (or the zeros at start), so "the last hour" is a subtraction."""

    def __init__(self, started: float) -> None:
        self.started = started
        self._tallies: deque[Tally] = deque([Tally(started, {})])

    def note(self, now: float, counts: Callable[[], Mapping[str, Trouble]]) -> None:
        """A tally of ``counts()`` when the last is a minute old; those past the hour go."""
        if now - self._tallies[-1].at >= TALLY_SPACING:
            self._tallies.append(Tally(now, counts()))
        while len(self._tallies) > 1 and self._tallies[1].at <= now - RECENT_WINDOW:
            self._tallies.popleft()

    def recent(self, now: float, counts: Callable[[], Mapping[str, Trouble]]) -> Recent:
        """The trouble since the window's start: ``counts()`` less its oldest tally."""
        self.note(now, counts)
        base = self._tallies[0]
        current = counts()
        return Recent(
            seconds=max(0.0, now - base.at),
            since_start=base.at == self.started,
            by_source={n: t - base.counts.get(n, Trouble()) for n, t in current.items()},
        )


def trouble_now(
    upstream_errors: Counter, rate_limited: Counter, sources: Mapping[str, SourceStatus]
) -> dict[str, Trouble]:
    """Each source's trouble counters as they stand."""
    errors: defaultdict[str, float] = defaultdict(float)
    for (name, reason), count in upstream_errors.values.items():
        if reason not in NOT_TROUBLE:
            errors[name] += count
    return {
        name: Trouble(
            int(rate_limited.get((name,))),
            int(errors[name]),
            st.refreshes["failure"],
        )
        for name, st in sources.items()
    }
