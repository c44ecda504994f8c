"""One source's work as a stream of reads, spent by urgency within each endpoint class's
budget, and published as the reads land.

Each endpoint class (the vendor limits them separately) has its own queue and its own
dispatcher: when the class's budget admits a call, the most urgent read due is sent, so a
throttled class never holds up another, and a read is chosen when it can be sent, not
seconds before. A failed read backs off alone. Landed reads mark what they changed; at
most once a second those campaigns alone are re-rendered and published.

A round is a listing walk and every read due when it landed (and what those make due at
once): telemetry's refreshes count rounds; health follows the walks and the reads.

This module is the dispatch and the landing; the queue and its gauges are ``readqueue``,
a round's counting ``rounds``, what a publication renders ``publication``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import anyio

from ..books.ledger import Book, Ledger
from ..books.reads import Outcome, Read, RefreshReport, SourceError, Urgency
from ..clock import SYSTEM_CLOCK, Clock
from ..exposition.store import ExpositionStore
from ..telemetry import Telemetry
from ..upstream.pacing import reserved_turn
from .publication import PUBLISH_EVERY, render_changes
from .readqueue import BacklogGauges, Key, ReadQueue, next_delay
from .rounds import Round

if TYPE_CHECKING:
    from ..sources.base import CampaignRow, Source

log = logging.getLogger("campaign_exporter.scheduler")
# While campaigns wait for their first read and the budget is short, an active campaign's
# state is read again at this many times its cadence (a poll interval): its failure is still
# on /metrics within two intervals, and the rest of the budget reads those never read (whose
# failures no one sees until then).
BACKLOG_STRETCH = 1.75


class Scheduler:
    """The reads of one source: queued, dispatched per endpoint class, landed in its books."""

    def __init__(
        self,
        source: Source[Any, Any],
        ledger: Ledger[Any],
        store: ExpositionStore,
        telemetry: Telemetry,
        clock: Clock = SYSTEM_CLOCK,
        carry: Scheduler | None = None,
        publish_every: float = PUBLISH_EVERY,
        persist: Callable[[Mapping[str, Any]], None] | None = None,
        restored: Sequence[str] = (),
        failed_states: frozenset[str] = frozenset(),
    ) -> None:
        self.source = source
        self.persist = persist  # takes each publication's changed entries (None: gone)
        self.publish_every = publish_every
        self.ledger = ledger
        self.store = store
        self.telemetry = telemetry
        self.clock = clock
        self.queue = ReadQueue()
        self.in_flight: dict[Key, tuple[Read, float]] = {}  # with the monotonic time sent
        self.round: Round | None = None
        self.finished: list[tuple[Round, float]] = []  # rounds ended, to record once published
        self.walked = False  # a walk landed (even a failed one) since start
        self.rows: dict[str, CampaignRow] = {}
        self._wake: dict[str, anyio.Event] = {}
        self._changed = anyio.Event()
        self._last_publish = -float("inf")
        self._health: bool | None = None  # the "up" logged last
        self._failing: set[str] = set()  # unread campaigns whose first read failed
        self._short: dict[str, bool] = {}  # by class: its last read waited for the budget
        now = clock.monotonic()
        if carry is not None:  # the same books under a new config: its reads go on
            self.queue, self.rows, self.walked = carry.queue, carry.rows, carry.walked
            for read, _ in carry.in_flight.values():
                read.due = now
                self.queue.put(read)
        for read in source.first_reads(self.book):
            self.queue.put(read)
        # what the last run kept is shown at once and read again by urgency (its stale
        # running campaigns first), each when its cadence since the last run's read of it
        # says (the due times are not stored: they follow from the stored read times); a
        # failed one at once, as urgently as a running one, whatever its age: its page
        # waits for this read (the alerts leave out what this process has not read), held
        # by keep_firing_for meanwhile
        wall = clock.time()
        for rank, cid in enumerate(restored):
            entry = ledger.entries[cid]
            failed = entry.state in failed_states
            for read in source.reads_for(cid, self.book, now, rank=rank):
                if failed:
                    read.urgency = Urgency.ACTIVE
                else:
                    read.due = now + max(0.0, read.interval - (wall - entry.updated_at))
                self.queue.put(read)
        if restored:
            self._changed.set()
        # restored entries as read from storage: not written back until a read replaces them
        self._as_stored = {cid: ledger.entries[cid] for cid in restored}
        self.gauges = BacklogGauges(self.queue, ledger, source.active_states, clock)
        gauges = self.gauges
        telemetry.track_reads(source.name, gauges.waiting, gauges.running_state_age, gauges.unread)

    @property
    def book(self) -> Book[Any]:
        return self.ledger.book

    # -- running ------------------------------------------------------------------------

    async def run(self) -> None:
        async with anyio.create_task_group() as tg:
            for cls in self.source.endpoint_classes:
                tg.start_soon(self._dispatch, cls, tg)
            tg.start_soon(self._publisher)

    async def _dispatch(self, cls: str, tg: anyio.abc.TaskGroup) -> None:
        slots = anyio.Semaphore(self.source.config.concurrency)
        client = self.source.client
        while True:
            await self._until_due(cls)
            asked = self.clock.monotonic()
            await slots.acquire()
            # The slot of the class's budget first, then the read: the most urgent one due
            # at the moment it can be sent.
            ticket = await client.reserve(cls)
            self._short[cls] = self.clock.monotonic() > asked  # it waited for a slot
            read = self.queue.pop(cls, self.clock.monotonic())
            if read is None:
                slots.release()
                continue
            self._sent(read)
            tg.start_soon(self._perform, read, ticket, slots.release)

    async def _until_due(self, cls: str) -> None:
        while True:
            now = self.clock.monotonic()
            at = self.queue.next_due(cls, now)
            if at is not None and at <= now:
                return
            wake = self._wake[cls] = anyio.Event()
            async with anyio.create_task_group() as tg:

                async def sleep(delay: float) -> None:
                    await self.clock.sleep(delay)
                    tg.cancel_scope.cancel()

                if at is not None:
                    tg.start_soon(sleep, at - now)
                await wake.wait()
                tg.cancel_scope.cancel()

    def _put(self, read: Read) -> None:
        rnd = self.round
        if rnd is not None and rnd.landed is not None and read.due > rnd.landed:
            rnd.keys.discard(read.key)  # put off past the round: no longer part of it
        self.queue.put(read)
        wake = self._wake.get(read.endpoint_class)
        if wake is not None:
            wake.set()

    def _sent(self, read: Read) -> None:
        self.in_flight[read.key] = (read, self.clock.monotonic())
        # A walk begins a round unless one is still on: the reads due at its walk come
        # first (under a short budget a round lasts as long as its backlog).
        if read.walk and self.round is None:
            self.round = Round(self.clock.time(), self.clock.monotonic())

    async def _perform(self, read: Read, ticket: Any, release: Callable[[], None]) -> None:
        token = reserved_turn.set(ticket)
        try:
            outcome = await self._outcome(read)
        finally:
            reserved_turn.reset(token)
            release()
            # (a read queued again while in flight, a new hour's window, may land first)
            _, sent = self.in_flight.pop(read.key, (read, self.clock.monotonic()))
        self._land(read, outcome, sent)

    async def _outcome(self, read: Read) -> Outcome[Any]:
        try:
            return await self.source.perform(read, self.book)
        except Exception as exc:  # a bug in one read must not stop the others
            log.exception(
                "read crashed",
                extra={
                    "kv": {"source": self.source.name, "read": read.kind, "exception": names(exc)}
                },
            )
            return Outcome(failure=SourceError(f"internal error: {names(exc)}", "internal"))

    # -- landing ------------------------------------------------------------------------

    def _land(self, read: Read, outcome: Outcome[Any], sent: float) -> None:
        source, ledger = self.source, self.ledger
        now = self.clock.monotonic()
        self.telemetry.record_found(source.name, outcome.errors, outcome.skipped)
        in_round = self.round is not None and read.key in self.round.keys
        follow: list[Read] = []
        if outcome.listing is not None:
            change = ledger.select(outcome.listing)
            if self.round is not None:  # counted once a round: the last listing's
                self.round.skipped = change.skipped
            for cid in change.dropped:
                self._discard(cid)
            for position, cid in enumerate(change.new):
                follow += source.reads_for(cid, self.book, now, rank=position)
            for cid in change.changed:
                follow += source.reads_for(cid, self.book, now, rank=0)
        for cid in ledger.land(outcome):
            self._discard(cid)
        follow += outcome.follow
        streak = 0
        if read.walk:  # a failed walk backs off by the source's streak, which telemetry counts
            self.walked = True
            streak = self.telemetry.record_walk(source.name, outcome.failure, self.clock.time())
        if outcome.failure is not None:
            read.failures = streak if read.walk else read.failures + 1
            read.due = now + next_delay(read.interval, read.failures)
            follow.append(read)
        follow = [r for r in follow if not r.campaign or r.subject in ledger.versions]
        if read.urgency is Urgency.UNREAD:  # one that keeps failing is no backlog
            (self._failing.add if outcome.failure else self._failing.discard)(read.subject)
        if len(ledger.unread_ids) > len(self._failing) + self._unread_in_flight():
            self._stretch(follow, read, now)
        for nxt in follow:
            self._put(nxt)
        self._note_round(read, outcome, follow, in_round, now)
        self.telemetry.record_read(
            source.name, read.urgency.label, outcome.failure is None, self.clock.time()
        )
        self._log_health(read, outcome.failure, now - sent)
        self._changed.set()

    def _unread_in_flight(self) -> int:
        """First reads sent and not landed (at most ``concurrency`` per class)."""
        return sum(r.urgency is Urgency.UNREAD for r, _ in self.in_flight.values())

    def _stretch(self, follow: list[Read], read: Read, now: float) -> None:
        """While the budget is short and campaigns wait for their first read, an active
        campaign's next read waits ``BACKLOG_STRETCH`` times its cadence (a failed read
        keeps its own back-off)."""
        for nxt in follow:
            if (
                nxt.urgency is Urgency.ACTIVE
                and nxt.campaign
                and nxt is not read
                and self._short.get(nxt.endpoint_class, False)
                and nxt.subject not in self.ledger.unread_ids
            ):
                nxt.due = now + BACKLOG_STRETCH * max(0.0, nxt.due - now)

    def _discard(self, cid: str) -> None:
        """A campaign left the books: its reads go, from the queue and from the round."""
        keys = self.queue.discard(cid)
        self._failing.discard(cid)
        if self.round is not None:
            self.round.keys -= keys

    def _log_health(self, read: Read, failure: SourceError | None, duration: float) -> None:
        """One line when the source goes down or comes back up, with the failure that
        tipped it, not one at every failed read."""
        status = self.telemetry.sources[self.source.name]
        if status.up == self._health or (failure is None and not self.walked):
            return  # (before the first walk, only a failure says something)
        self._health = status.up
        kv: dict[str, Any] = {"source": self.source.name, "read": read.kind}
        if status.up:
            log.info("source up", extra={"kv": kv | {"duration": f"{duration:.3f}s"}})
            return
        kv |= {"err": str(failure) if failure else status.last_error}
        if failure is not None:
            kv |= {"reason": failure.reason, "correlation_id": failure.correlation_id}
        log.warning("source down", extra={"kv": kv})

    def _note_round(
        self, read: Read, outcome: Outcome[Any], follow: list[Read], in_round: bool, now: float
    ) -> None:
        rnd = self.round
        if rnd is None:
            return
        if read.walk and rnd.landed is None:
            in_flight = {k for k, (r, _) in self.in_flight.items() if r.due <= now}
            rnd.walk_landed(outcome, now, self.queue.due_by(now) | in_flight)
        elif in_round:
            rnd.read_landed(read, outcome, follow, now)
        if rnd.over:
            self._end_round()

    def _end_round(self) -> None:
        if self.round is not None:
            self.finished.append((self.round, self.clock.monotonic()))
            self.round = None

    # -- publishing ---------------------------------------------------------------------

    async def _publisher(self) -> None:
        while True:
            await self._changed.wait()
            wait = self._last_publish + self.publish_every - self.clock.monotonic()
            if wait > 0:
                await self.clock.sleep(wait)
            await self.publish()

    async def publish(self) -> None:
        """Re-render what changed since the last publication, off the event loop, and
        hand it to the store; then tell telemetry (so "up" never runs ahead of /metrics)."""
        self._changed = anyio.Event()
        self._last_publish = self.clock.monotonic()
        self.gauges.forget()  # the gauges follow what this publication shows
        ledger = self.ledger
        dirty, touched = ledger.take_dirty()
        # the rounds that ended with what this publication shows, taken with it
        finished, self.finished = self.finished, []
        walked = self.walked
        entries = {cid: ledger.entries.get(cid) for cid in dirty}
        again = {cid: ledger.entries[cid] for cid in touched}
        by_state = ledger.by_state()
        error = None
        try:
            rows = await anyio.to_thread.run_sync(
                render_changes, self.source, self.store, self.rows, entries, again, by_state
            )
        except Exception as exc:  # the last good exposition stays served
            log.exception("publishing failed", extra={"kv": {"source": self.source.name}})
            ledger.dirty |= dirty | touched
            self.finished, finished = finished + self.finished, []
            error = f"render failed: {type(exc).__name__}"
        else:
            for cid, row in rows.items():
                if row is None:
                    self.rows.pop(cid, None)
                else:
                    self.rows[cid] = row
            if self.persist is not None:
                stored = self._as_stored
                changed = {**entries, **again}
                self.persist(
                    {c: e for c, e in changed.items() if stored.pop(c, None) is not e or e is None}
                )
        shown = list(self.rows.values())
        self.telemetry.record_publication(
            self.source.name, rows=shown, campaigns=len(ledger), walked=walked, error=error
        )
        for rnd, ended in finished:
            self._record_round(rnd, ended, shown)

    def _record_round(self, rnd: Round, ended: float, rows: list[CampaignRow]) -> None:
        report = rnd.report(len(self.ledger))
        failure = report.failure
        self.telemetry.record_refresh(
            self.source.name,
            report,
            started=rnd.started,
            duration=ended - rnd.started_mono,
            error=str(failure) if failure else None,
            rows=rows,
        )

    # -- for tests on a manual clock ------------------------------------------------------

    async def drain(self) -> RefreshReport | None:
        """Every read due now, and what they make due now, then a publication; the report
        of the round that ended, if one did (tests drive the books this way)."""
        while True:
            now = self.clock.monotonic()
            batch = []
            for cls in self.source.endpoint_classes:
                while (read := self.queue.pop(cls, now)) is not None:
                    batch.append(read)
            if not batch:
                break
            async with anyio.create_task_group() as tg:
                for read in batch:
                    self._sent(read)
                    tg.start_soon(self._perform, read, None, lambda: None)
        if self.round is not None and self.round.landed is not None:
            self._end_round()
        report = self.finished[-1][0].report(len(self.ledger)) if self.finished else None
        await self.publish()
        return report


def names(exc: BaseException) -> str:
    """The exception's type, or the types inside an exception group."""
    if isinstance(exc, BaseExceptionGroup):
        return ", ".join(sorted({names(inner) for inner in exc.exceptions}))
    return type(exc).__name__
