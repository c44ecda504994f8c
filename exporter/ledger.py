"""The campaign ledger: what every source must do with what it read, done once.

A source fetches and parses; the ledger keeps the books. It decides which listed
campaigns this replica polls (shard, exclusions, retirement, the cap), merges what was
read into the last good values, drops what is gone, retires what finished long ago, and
remembers when each campaign was first seen in its current state. Each refresh ends in
one ``RefreshReport`` that telemetry records.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from .clock import SYSTEM_CLOCK, Clock
from .reasons import ErrorReason, SkipReason
from .schema import SourceConfig
from .shard import Shard

S = TypeVar("S")
UNSHARDED = Shard()


class SourceError(Exception):
    """A refresh that could not complete: the source is down until the next one works.

    The message is shown on the landing page and logged; it never holds a credential.
    """

    def __init__(
        self, message: str, reason: str = "refresh", correlation_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.correlation_id = correlation_id


class Fetcher(Protocol[S]):
    """What the ledger needs of a source (``sources.base.Source`` is the full interface)."""

    terminal_states: ClassVar[frozenset[str]]

    @property
    def config(self) -> SourceConfig: ...

    async def fetch(self, book: Book[S]) -> Refresh[S]: ...

    def state_of(self, snapshot: S) -> str | None: ...

    def finished_at(self, snapshot: S) -> float | None: ...

    def merge(self, previous: S, new: S) -> S: ...


@dataclass
class Entry(Generic[S]):
    """One campaign's last good snapshot and what the ledger knows about it."""

    campaign_id: str
    snapshot: S
    updated_at: float  # Unix time of the last successful read
    state: str | None
    state_since: float  # Unix time the exporter first saw it in ``state``
    first_seen: float  # Unix time the exporter first saw it at all (since it last started)
    finished_at: float | None = None  # when it finished: the vendor's time, or first seen so
    error: str | None = None  # the last read's failure, while the values shown are older


@dataclass
class Refresh(Generic[S]):
    """What one fetch of a source brought back."""

    read: dict[str, S] = field(default_factory=dict)  # snapshots read successfully now
    failed: dict[str, str] = field(default_factory=dict)  # id -> error; last values stay
    gone: set[str] = field(default_factory=set)  # confirmed deleted upstream
    exclude: dict[str, SkipReason] = field(default_factory=dict)  # not asked while listed
    complete: bool = True  # the listing was whole: known campaigns not on it are gone
    errors: Counter[ErrorReason] = field(default_factory=Counter)  # found in bodies
    left_out: int = 0  # passed over by the listing walk itself, past the cap
    skipped: Counter[SkipReason] = field(default_factory=Counter)  # others the source skipped
    polled: int = 0  # campaigns asked about
    failure: SourceError | None = None  # the refresh as a whole failed (partial reads kept)


@dataclass
class RefreshReport:
    """One refresh, as telemetry records it."""

    polled: int = 0
    failed: int = 0
    errors: Counter[ErrorReason] = field(default_factory=Counter)  # malformed bodies, ...
    skipped: Counter[SkipReason] = field(default_factory=Counter)
    campaigns: int = 0
    failure: SourceError | None = None


class Book(Generic[S]):
    """The ledger as a source sees it during a fetch: the last good entries, and
    ``select`` to turn a listing into the campaigns this replica should read."""

    def __init__(self, ledger: Ledger[S]) -> None:
        self._ledger = ledger
        self.listed: set[str] | None = None  # None until ``select``: nothing was listed
        self.selected: list[str] = []
        self.skipped: Counter[SkipReason] = Counter()

    def get(self, campaign_id: str) -> Entry[S] | None:
        return self._ledger.entries.get(campaign_id)

    def __iter__(self) -> Iterator[Entry[S]]:
        return iter(self._ledger.entries.values())

    def now(self) -> float:
        return self._ledger.clock.time()

    def monotonic(self) -> float:
        return self._ledger.clock.monotonic()

    def select(self, listing: Iterable[tuple[str, str | None]]) -> list[str]:
        """The campaigns to read, in listing order: listed ``(id, version)`` pairs minus
        other shards' campaigns, those excluded or retired (unless their version
        changed), and those past the cap. Call it once per fetch."""
        ledger = self._ledger
        versions: dict[str, str | None] = {}
        for cid, version in listing:
            if cid not in versions and ledger.shard.owns(cid):
                versions[cid] = version
        self.listed = set(versions)
        ledger.excluded = {c: r for c, r in ledger.excluded.items() if c in versions}
        # still listed and unchanged stays retired; gone or edited is forgotten
        ledger.retired = {
            c: v for c, v in ledger.retired.items() if c in versions and versions[c] == v
        }
        wanted: list[str] = []
        for cid in versions:
            if cid in ledger.retired:
                self.skipped[SkipReason.RETIRED] += 1
            elif cid in ledger.excluded:
                self.skipped[ledger.excluded[cid]] += 1
            else:
                wanted.append(cid)
        if len(wanted) > ledger.cap:
            self.skipped[SkipReason.MAX_CAMPAIGNS] += len(wanted) - ledger.cap
        self.selected = wanted[: ledger.cap]
        ledger.versions = {cid: versions[cid] for cid in self.selected}
        return self.selected


class Ledger(Generic[S]):
    """The books of one source; only its poll loop calls ``refresh``."""

    def __init__(
        self,
        source: Fetcher[S],
        *,
        shard: Shard = UNSHARDED,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.source = source
        self.shard = shard
        self.clock = clock
        self.cap = source.config.max_campaigns
        self.retention = source.config.retention
        self.entries: dict[str, Entry[S]] = {}
        self.versions: dict[str, str | None] = {}  # listing version of each selected campaign
        self.retired: dict[str, str | None] = {}  # id -> version when it was retired
        self.excluded: dict[str, SkipReason] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def current(self) -> Sequence[Entry[S]]:
        """The entries now, for rendering (a list: the books may change after)."""
        return list(self.entries.values())

    async def refresh(self) -> RefreshReport:
        book = Book(self)
        fetched = await self.source.fetch(book)
        report = RefreshReport(
            polled=fetched.polled,
            failed=len(fetched.failed),
            errors=fetched.errors,
            skipped=book.skipped + fetched.skipped,
            failure=fetched.failure,
        )
        if fetched.left_out:
            report.skipped[SkipReason.MAX_CAMPAIGNS] += fetched.left_out
        self.excluded.update(fetched.exclude)
        self._forget(book, fetched)
        self._merge(fetched)
        self._retire()
        report.campaigns = len(self.entries)
        return report

    def _forget(self, book: Book[S], fetched: Refresh[S]) -> None:
        """Drop what the listing says is gone, capped out, excluded or another shard's.

        An incomplete listing (unreadable entries) removes only what it names; a fetch
        that never got to list removes nothing but what it knows is gone."""
        selected, listed = set(book.selected), book.listed
        for cid in list(self.entries):
            if cid in fetched.gone or cid in fetched.exclude:
                del self.entries[cid]
            elif listed is None:
                continue
            elif (cid in listed and cid not in selected) or (
                cid not in listed and fetched.complete
            ):
                del self.entries[cid]

    def _merge(self, fetched: Refresh[S]) -> None:
        now = self.clock.time()
        source = self.source
        for cid, snapshot in fetched.read.items():
            if cid in fetched.gone or cid in fetched.exclude:
                continue
            previous = self.entries.get(cid)
            if previous is not None:
                snapshot = source.merge(previous.snapshot, snapshot)
            state = source.state_of(snapshot)
            since = previous.state_since if previous and previous.state == state else now
            finished = source.finished_at(snapshot)
            if finished is None and state in source.terminal_states:
                finished = previous.finished_at if previous and previous.state == state else now
            first = previous.first_seen if previous else now
            self.entries[cid] = Entry(cid, snapshot, now, state, since, first, finished)
        for cid, error in fetched.failed.items():
            entry = self.entries.get(cid)
            if entry is not None:
                entry.error = error

    def _retire(self) -> None:
        """Terminal campaigns that finished before the retention window leave; they are
        not asked about again (and count as skipped) until their listing version changes."""
        cutoff = self.clock.time() - self.retention
        terminal = self.source.terminal_states
        for cid, entry in list(self.entries.items()):
            finished = entry.finished_at
            if entry.state in terminal and finished is not None and finished < cutoff:
                self.retired[cid] = self.versions.get(cid)
                del self.entries[cid]


def carry_over(previous: Any, new: Any) -> Any:
    """``new`` with the fields that came back null keeping their ``previous`` values, and
    mapping fields merged (a group missing now keeps its last good values)."""
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(new):
        value, old = getattr(new, f.name), getattr(previous, f.name)
        if value is None and old is not None:
            changes[f.name] = old
        elif isinstance(value, Mapping) and isinstance(old, Mapping) and set(old) - set(value):
            changes[f.name] = {**old, **value}
    return dataclasses.replace(new, **changes) if changes else new
