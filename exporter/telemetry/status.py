"""What telemetry knows of each thing it watches: a source's status (``SourceStatus``: up,
ready, its last round, its reads of the last poll interval, the failure streak), the
backlog its scheduler answers (``Backlog``), and the books' storage (``StorageState``)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class SourceStatus:
    """What the poll loop has told of one source's refreshes."""

    poll_interval: float
    type_name: str
    up: bool = False
    ready: bool = False
    last_success: float | None = None
    last_attempt: float | None = None
    last_duration: float | None = None
    last_error: str | None = None
    # Listing walks failed in a row: counted here only; /metrics shows it, and the
    # scheduler backs the next walk off by it.
    consecutive_failures: int = 0
    campaigns: int = 0
    unrefreshed: int = 0  # campaigns whose read failed in the last refresh
    rows: Sequence[Any] = ()  # sources.CampaignRow, for the status page
    warnings: tuple[str, ...] = ()  # how it connects, if an operator should know (insecure TLS)
    refreshes: dict[str, int] = field(
        default_factory=lambda: {"success": 0, "partial": 0, "failure": 0}
    )
    registered: float = 0.0  # Unix time the source started
    walk_ok: bool = False  # the last listing walk worked
    walk_error: str | None = None
    reads: dict[str, int] = field(default_factory=dict)  # by urgency
    # when each read of about the last poll interval landed, and each that failed
    recent_reads: deque[float] = field(default_factory=deque)
    recent_failures: deque[float] = field(default_factory=deque)
    # what the scheduler tells at each scrape: reads waiting by urgency (how many, oldest
    # wait), the running state's age, campaigns listed but never read
    waiting: Callable[[], Mapping[str, tuple[int, float]]] = dict
    running_age: Callable[[], float] = float
    unread: Callable[[], int] = int

    def show(self, rows: Sequence[Any]) -> None:
        """The status page's rows (sources.CampaignRow) of the campaigns published."""
        self.rows = rows
        self.unrefreshed = sum(1 for row in rows if row.error)

    def read_landed(self, urgency: str, ok: bool, when: float) -> None:
        """One read landed, ``ok`` or not, at Unix time ``when``."""
        self.reads[urgency] = self.reads.get(urgency, 0) + 1
        self.recent_reads.append(when)
        if not ok:
            self.recent_failures.append(when)
        since = when - self.poll_interval
        for recent in (self.recent_reads, self.recent_failures):
            while recent and recent[0] < since:
                recent.popleft()
        self._judge()

    def walk_landed(self, failure: Exception | None, when: float) -> int:
        """A listing walk landed at Unix time ``when``: a failure lengthens the streak, a
        success ends it; the streak now."""
        self.walk_ok = failure is None
        self.walk_error = None if failure is None else str(failure)
        if failure is None:
            self.consecutive_failures = 0
            self.last_success = when
        else:
            self.consecutive_failures += 1
        self._judge()
        return self.consecutive_failures

    def _judge(self) -> None:
        # "up" counts the reads of about the last poll interval: under half of them failed
        failed, total = len(self.recent_failures), len(self.recent_reads)
        self.up = self.walk_ok and failed * 2 < max(1, total)
        self.last_error = self.walk_error
        if self.last_error is None and not self.up:
            self.last_error = f"{failed} of {total} reads of the last poll interval failed"


@dataclass(frozen=True)
class Backlog:
    """One source's backlog as its scheduler answered: reads waiting for the request budget
    by urgency (how many, the oldest one's wait in seconds), the age in seconds of the
    running campaigns' state, campaigns listed but never read."""

    waiting: Mapping[str, tuple[int, float]]
    running_age: float
    unread: int


class StorageState(Protocol):
    writable: bool
    errors: int
