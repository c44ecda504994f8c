"""The campaign ledger: what every source must do with what it read, done once.

A source reads and parses; the ledger keeps the books. It decides which listed
campaigns this replica reads (shard, exclusions, retirement, the cap), merges what each
read brought into the last good values, drops what is gone, retires what finished long
ago, and remembers when each campaign was first seen in its current state. Each landed
read marks the campaigns it changed, for the next publication to re-render alone.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from ..clock import SYSTEM_CLOCK, Clock
from ..config.schema import SourceConfig
from .reads import Listing, Outcome
from .reasons import SkipReason
from .shard import Shard

S = TypeVar("S")
UNSHARDED = Shard()


class Fetcher(Protocol[S]):
    """What the ledger needs of a source (``sources.base.Source`` is the full interface)."""

    terminal_states: ClassVar[frozenset[str]]

    @property
    def config(self) -> SourceConfig: ...

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
    first_seen: float  # Unix time the exporter first saw it at all (kept across restarts
    # with --storage.path, else since it started)
    finished_at: float | None = None  # when it finished: the vendor's time, or first seen so
    error: str | None = None  # the last read's failure, while the values shown are older


@dataclass(frozen=True)
class Mark:
    """Why a listed campaign is not read: retired (at its listing version then) or
    excluded by a read (its type, an unsafe id)."""

    campaign_id: str
    reason: SkipReason
    version: str | None  # retired: the listing version it was retired at


@dataclass
class Selection:
    """What applying a listing changed: campaigns to read for the first time, and known
    ones whose version moved (an edit)."""

    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    dropped: set[str] = field(default_factory=set)  # no longer read: their reads go
    skipped: Counter[SkipReason] = field(default_factory=Counter)


class Book(Generic[S]):
    """The ledger as a source sees it during a read: the last good entries and the time."""

    def __init__(self, ledger: Ledger[S]) -> None:
        self._ledger = ledger

    def get(self, campaign_id: str) -> Entry[S] | None:
        return self._ledger.entries.get(campaign_id)

    def __iter__(self) -> Iterator[Entry[S]]:
        return iter(self._ledger.entries.values())

    def now(self) -> float:
        return self._ledger.clock.time()

    def monotonic(self) -> float:
        return self._ledger.clock.monotonic()


class Ledger(Generic[S]):
    """The books of one source; only its scheduler lands reads in them."""

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
        self.listed: dict[str, str | None] | None = None  # None until a walk: nothing listed
        self.versions: dict[str, str | None] = {}  # listing version of each selected campaign
        self.retired: dict[str, str | None] = {}  # id -> version when it was retired
        self.excluded: dict[str, SkipReason] = {}
        self.dirty: set[str] = set()  # changed since the last publication (or removed)
        # read again since the last publication and found as they were: only their read
        # time moved (rendered as that, not whole)
        self.touched: set[str] = set()
        # Retirement and exclusion marks changed since last taken, kept only while someone
        # takes them (storage)
        self.keeps_marks = False
        self.marks_dirty: set[str] = set()
        # Indexes kept as the books change (a scrape and a publication read them, at 10,000
        # campaigns): the ids in each state, and those selected but not read yet.
        self.in_state: dict[str | None, set[str]] = {}
        self.unread_ids: set[str] = set()
        self.book = Book(self)

    def __len__(self) -> int:
        return len(self.entries)

    def adopt(self, source: Fetcher[S]) -> None:
        """Keep these books for the same source under a new config (a reload)."""
        self.source = source
        self.cap = source.config.max_campaigns
        self.retention = source.config.retention
        self.dirty |= self.entries.keys()  # rendered anew: the metric selection may differ

    def restore(self, entries: Iterable[tuple[Entry[S], str | None]]) -> list[str]:
        """The books kept by the last run (``storage``), with each listing version: shown
        at once, read again by urgency. Campaigns outside this replica's shard are left
        out; the ids restored, in order."""
        restored = []
        for entry, version in entries:
            cid = entry.campaign_id
            if not self.shard.owns(cid) or cid in self.entries:
                continue
            self.entries[cid] = entry
            self.versions[cid] = version
            self.in_state.setdefault(entry.state, set()).add(cid)
            self.dirty.add(cid)
            restored.append(cid)
        return restored

    def restore_marks(self, marks: Iterable[Mark]) -> None:
        """The retirement and exclusion marks kept by the last run: a campaign retired or
        excluded then is not read again after a restart, until the listing says it changed
        (retired) or stops listing it."""
        for mark in marks:
            cid = mark.campaign_id
            if not self.shard.owns(cid) or cid in self.entries:
                continue
            if mark.reason == SkipReason.RETIRED:
                self.retired[cid] = mark.version
            else:
                self.excluded[cid] = mark.reason

    def take_marks(self) -> dict[str, Mark | None]:
        """The marks changed since last taken: campaign id -> its mark, or None when it has
        none any more."""
        out: dict[str, Mark | None] = {}
        for cid in self.marks_dirty:
            if cid in self.retired:
                out[cid] = Mark(cid, SkipReason.RETIRED, self.retired[cid])
            elif cid in self.excluded:
                out[cid] = Mark(cid, self.excluded[cid], None)
            else:
                out[cid] = None
        self.marks_dirty = set()
        return out

    def current(self) -> Sequence[Entry[S]]:
        """The entries now, for rendering (a list: the books may change after)."""
        return list(self.entries.values())

    @property
    def unread(self) -> int:
        """Selected campaigns whose state has not been read yet."""
        return len(self.unread_ids)

    def by_state(self) -> dict[str | None, int]:
        """How many campaigns the books hold in each state."""
        return {state: len(ids) for state, ids in self.in_state.items() if ids}

    def in_states(self, states: Iterable[str]) -> Iterator[Entry[S]]:
        """The entries of campaigns in these states."""
        for state in states:
            for cid in self.in_state.get(state, ()):
                yield self.entries[cid]

    def take_dirty(self) -> tuple[set[str], set[str]]:
        """The campaigns changed (or removed) since the last publication, and those only
        read again, as they were."""
        dirty, self.dirty = self.dirty, set()
        touched, self.touched = self.touched - dirty, set()
        return dirty, touched

    def select(self, listing: Listing) -> Selection:
        """Apply a walk of the list: listed ``(id, version)`` pairs minus other shards'
        campaigns, those excluded or retired (unless their version changed), and those
        past the cap, in listing order. A walk of the list's head only puts what it found
        first and keeps the rest of the last listing."""
        change = Selection()
        versions: dict[str, str | None] = {}
        for cid, version in listing.entries:
            if cid not in versions and self.shard.owns(cid):
                versions[cid] = version
        if not listing.whole and self.listed is not None:
            for cid, version in self.listed.items():
                versions.setdefault(cid, version)
        self.listed = versions
        excluded = {c: r for c, r in self.excluded.items() if c in versions}
        # still listed and unchanged stays retired; gone or edited is forgotten
        retired = {c: v for c, v in self.retired.items() if c in versions and versions[c] == v}
        if self.keeps_marks:
            self.marks_dirty |= (self.excluded.keys() - excluded.keys()) | (
                self.retired.keys() - retired.keys()
            )
        self.excluded, self.retired = excluded, retired
        wanted: list[str] = []
        for cid in versions:
            if cid in self.retired:
                change.skipped[SkipReason.RETIRED] += 1
            elif cid in self.excluded:
                change.skipped[self.excluded[cid]] += 1
            else:
                wanted.append(cid)
        if len(wanted) > self.cap:
            change.skipped[SkipReason.MAX_CAMPAIGNS] += len(wanted) - self.cap
        if listing.left_out:
            change.skipped[SkipReason.MAX_CAMPAIGNS] += listing.left_out
        selected = {cid: versions[cid] for cid in wanted[: self.cap]}
        for cid, version in selected.items():
            if cid not in self.versions and cid not in self.entries:
                change.new.append(cid)
            elif cid in self.versions and self.versions[cid] != version:
                change.changed.append(cid)
        gone_too = listing.whole and listing.complete
        change.dropped = {
            cid
            for cid in self.versions.keys() | self.entries.keys()
            if cid not in selected and (cid in versions or gone_too)
        }
        self.versions = selected
        for cid in change.dropped:
            self._drop(cid)
        self.unread_ids = {cid for cid in selected if cid not in self.entries}
        return change

    def land(self, outcome: Outcome[S]) -> set[str]:
        """Merge one read into the books; the campaigns it removed (their reads go)."""
        self.excluded.update(outcome.exclude)
        if self.keeps_marks:
            self.marks_dirty.update(outcome.exclude)
        removed = set(outcome.gone) | set(outcome.exclude)
        if outcome.render_all:
            self.dirty |= self.entries.keys()
        for cid in removed:
            self._drop(cid)
        if self.listed is not None:  # deleted: not listed any more (excluded ones are)
            for cid in outcome.gone:
                self.listed.pop(cid, None)
        now = self.clock.time()
        for cid, snapshot in outcome.read.items():
            if cid not in removed and (self.listed is None or cid in self.versions):
                self._merge(cid, snapshot, now)
        for cid, error in outcome.failed.items():
            entry = self.entries.get(cid)
            if entry is not None and entry.error != error:
                entry.error = error
                self.dirty.add(cid)
        return removed | self._retire(outcome.read)

    def _merge(self, cid: str, snapshot: S, now: float) -> None:
        source = self.source
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
        if (
            previous is not None
            and previous.error is None
            and previous.state == state
            and previous.finished_at == finished
            and previous.snapshot == snapshot
        ):
            self.touched.add(cid)
        else:
            self.dirty.add(cid)
        if previous is None or previous.state != state:
            if previous is not None:
                self.in_state[previous.state].discard(cid)
            self.in_state.setdefault(state, set()).add(cid)
        self.unread_ids.discard(cid)

    def _drop(self, cid: str) -> None:
        self.versions.pop(cid, None)
        self.unread_ids.discard(cid)
        entry = self.entries.pop(cid, None)
        if entry is not None:
            self.dirty.add(cid)
            self.in_state[entry.state].discard(cid)

    def _retire(self, ids: Iterable[str]) -> set[str]:
        """Terminal campaigns that finished before the retention window leave; they are
        not asked about again (and count as skipped) until their listing version changes."""
        cutoff = self.clock.time() - self.retention
        terminal = self.source.terminal_states
        retired = set()
        for cid in ids:
            entry = self.entries.get(cid)
            if entry is None:
                continue
            finished = entry.finished_at
            if entry.state in terminal and finished is not None and finished < cutoff:
                self.retired[cid] = self.versions.get(cid)
                if self.keeps_marks:
                    self.marks_dirty.add(cid)
                self._drop(cid)
                retired.add(cid)
        return retired


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
