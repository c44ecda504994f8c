"""One source's reads waiting to be sent: by key (a newer read of a key replaces the
older), per endpoint class, the most urgent due first; how long a failed read waits
before it is tried again (``next_delay``); and the backlog gauges telemetry reads of it
at a scrape (``BacklogGauges``)."""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass
from typing import Any

from ..books.ledger import Ledger
from ..books.reads import Read, Urgency
from ..clock import Clock

MAX_BACKOFF = 300.0
GAUGES_EVERY = 1.0  # seconds: the backlog gauges walk the queue at most this often

Key = tuple[str, str]


def next_delay(interval: float, failures: int) -> float:
    """The read's interval, doubled for each failure after the first, up to 5 minutes
    (or the interval itself, when that is longer): a failing upstream is not hammered."""
    if failures <= 1:
        return interval
    return min(interval * 2.0 ** min(failures - 1, 16), max(interval, MAX_BACKOFF))


class ReadQueue:
    """Reads by key (a newer one for a key replaces the older), ordered per endpoint class:
    those not due yet by due time, those due by urgency, rank, then due time."""

    def __init__(self) -> None:
        self.reads: dict[Key, Read] = {}
        self._stamp: dict[Key, int] = {}
        self._subjects: dict[str, set[Key]] = {}
        self._later: dict[str, list[tuple[float, int, Key]]] = {}
        self._due: dict[str, list[tuple[int, float, float, int, Key]]] = {}
        self._seq = itertools.count()

    def put(self, read: Read) -> None:
        seq = next(self._seq)
        key = read.key
        self.reads[key] = read
        self._stamp[key] = seq
        self._subjects.setdefault(read.subject, set()).add(key)
        heapq.heappush(self._later.setdefault(read.endpoint_class, []), (read.due, seq, key))

    def discard(self, subject: str) -> set[Key]:
        """Every read of one subject (a campaign that left the books); their keys."""
        keys = self._subjects.pop(subject, set())
        for key in keys:
            self.reads.pop(key, None)
            self._stamp.pop(key, None)
        return keys

    def _valid(self, key: Key, seq: int) -> bool:
        return self._stamp.get(key) == seq

    def _promote(self, cls: str, now: float) -> None:
        later, due = self._later.get(cls, []), self._due.setdefault(cls, [])
        while later and later[0][0] <= now:
            at, seq, key = heapq.heappop(later)
            if self._valid(key, seq):
                read = self.reads[key]
                heapq.heappush(due, (read.urgency, read.rank, at, seq, key))

    def pop(self, cls: str, now: float) -> Read | None:
        """The most urgent read of ``cls`` that is due, taken off the queue."""
        self._promote(cls, now)
        due = self._due[cls]
        while due:
            *_, seq, key = heapq.heappop(due)
            if self._valid(key, seq):
                read = self.reads.pop(key)
                del self._stamp[key]
                keys = self._subjects.get(read.subject)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del self._subjects[read.subject]
                return read
        return None

    def next_due(self, cls: str, now: float) -> float | None:
        """When the next read of ``cls`` is due (``now`` or earlier when one is)."""
        self._promote(cls, now)
        due = self._due[cls]
        while due and not self._valid(due[0][-1], due[0][-2]):
            heapq.heappop(due)
        if due:
            return now
        later = self._later.get(cls, [])
        while later and not self._valid(later[0][2], later[0][1]):
            heapq.heappop(later)
        return later[0][0] if later else None

    def waiting(self, now: float) -> dict[Urgency, tuple[int, float]]:
        """Reads due and not yet sent, by urgency: how many, and the earliest due time."""
        found: dict[Urgency, tuple[int, float]] = {}
        for cls in list(self._later):
            self._promote(cls, now)
        for due in self._due.values():
            for urgency, _, at, seq, key in due:
                if self._valid(key, seq):
                    count, oldest = found.get(Urgency(urgency), (0, at))
                    found[Urgency(urgency)] = (count + 1, min(oldest, at))
        return found

    def due_by(self, when: float) -> set[Key]:
        return {key for key, read in self.reads.items() if read.due <= when}


@dataclass(frozen=True)
class Backlog:
    """What the backlog gauges read, taken at most once a second (they walk the queue and
    the books): reads waiting by urgency (how many, the earliest due time), the oldest read
    of an active campaign's state (Unix time), campaigns listed but never read."""

    taken: float  # monotonic
    waiting: dict[Urgency, tuple[int, float]]
    oldest_active: float | None
    unread: int


class BacklogGauges:
    """What telemetry reads of one source's backlog at a scrape, from a ``Backlog`` taken
    at most once a second: a scrape every few milliseconds never walks a queue of 10,000
    reads each time."""

    def __init__(
        self, queue: ReadQueue, ledger: Ledger[Any], active_states: frozenset[str], clock: Clock
    ) -> None:
        self.queue = queue
        self.ledger = ledger
        self.active_states = active_states
        self.clock = clock
        self._backlog: Backlog | None = None

    def forget(self) -> None:
        """Take the backlog anew at the next scrape (a publication changed what it shows)."""
        self._backlog = None

    def _taken(self) -> Backlog:
        """The backlog as it stood at most a second ago."""
        now = self.clock.monotonic()
        backlog = self._backlog
        if backlog is None or now - backlog.taken >= GAUGES_EVERY:
            active = self.active_states
            oldest = min((e.updated_at for e in self.ledger.in_states(active)), default=None)
            backlog = Backlog(now, self.queue.waiting(now), oldest, self.ledger.unread)
            self._backlog = backlog
        return backlog

    def waiting(self) -> dict[str, tuple[int, float]]:
        now = self.clock.monotonic()
        return {
            urgency.label: (count, now - oldest)
            for urgency, (count, oldest) in self._taken().waiting.items()
        }

    def running_state_age(self) -> float:
        """Seconds since the state of the campaign read longest ago, of those last seen
        active (running, sending, overdue)."""
        oldest = self._taken().oldest_active
        return 0.0 if oldest is None else max(0.0, self.clock.time() - oldest)

    def unread(self) -> int:
        return self._taken().unread
