"""What a source's reads are and bring back, as the books take them: a unit of work
(``Read``, by ``Urgency``), what one brought (``Outcome``, with the ``Listing`` a walk of the
vendor's list found, or the ``SourceError`` it failed with) and one round as telemetry records
it (``RefreshReport``). Sources build these; the ledger lands them and the scheduler spends
the budget on them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Generic, TypeVar

from ..config.schema import DEFAULT_CLASS
from .reasons import ErrorReason, SkipReason

S = TypeVar("S")


class SourceError(Exception):
    """A read that could not complete: it is asked again later, the last values stay.

    The message is shown on the landing page and logged; it never holds a credential.
    """

    def __init__(
        self, message: str, reason: str = "refresh", correlation_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.correlation_id = correlation_id


class Urgency(IntEnum):
    """How soon a read matters, most urgent first; each value's name is a label value."""

    ACTIVE = 0  # the listing head; the state of campaigns running, overdue or about to send
    UNREAD = 1  # the state of a campaign never read yet
    DETAIL = 2  # counts and setup
    SETTLING = 3  # campaigns finished recently
    IDLE = 4  # the rest: sent long ago, not scheduled, scheduled far ahead

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(slots=True)
class Read:
    """One unit of a source's work: a listing walk, one campaign's state, counts or setup,
    one report window. ``due`` is monotonic; ``interval`` is what it backs off from."""

    kind: str
    subject: str  # a campaign id, or what part of a listing
    endpoint_class: str = DEFAULT_CLASS
    urgency: Urgency = Urgency.ACTIVE
    due: float = 0.0
    interval: float = 30.0
    rank: float = 0.0  # within an urgency, lower first (e.g. listing order)
    failures: int = 0  # in a row; the next try waits longer each time
    walk: bool = False  # walks the list (its head): a round begins with it
    campaign: bool = True  # of one campaign (``subject``): it goes when the campaign does

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.subject)


@dataclass
class Listing:
    """What a walk of the vendor's list found: ``(id, version)`` in listing order."""

    entries: list[tuple[str, str | None]] = field(default_factory=list)
    whole: bool = True  # the whole list was walked: known campaigns not on it are gone ...
    complete: bool = True  # ... unless some entries could not be read
    left_out: int = 0  # passed over by the walk itself, past the cap


@dataclass
class Outcome(Generic[S]):
    """What one read brought back."""

    read: dict[str, S] = field(default_factory=dict)  # snapshots read successfully now
    failed: dict[str, str] = field(default_factory=dict)  # id -> error; last values stay
    gone: set[str] = field(default_factory=set)  # confirmed deleted upstream
    exclude: dict[str, SkipReason] = field(default_factory=dict)  # not asked while listed
    listing: Listing | None = None  # what a walk of the list found
    follow: list[Read] = field(default_factory=list)  # reads this one makes due
    errors: Counter[ErrorReason] = field(default_factory=Counter)  # found in bodies
    skipped: Counter[SkipReason] = field(default_factory=Counter)  # others the source skipped
    failure: SourceError | None = None  # the read as a whole failed (partial reads kept)
    polled: int = 0  # campaigns it asked about
    # the source renders its campaigns differently from now on (e.g. where their counts
    # come from): every campaign is rendered anew, not only those this read brought
    render_all: bool = False


@dataclass
class RefreshReport:
    """One round (a listing walk and the reads due when it landed), as telemetry records it."""

    polled: int = 0
    failed: int = 0
    errors: Counter[ErrorReason] = field(default_factory=Counter)  # malformed bodies, ...
    skipped: Counter[SkipReason] = field(default_factory=Counter)
    campaigns: int = 0
    failure: SourceError | None = None
