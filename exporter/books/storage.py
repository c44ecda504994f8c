"""The books on disk: what the ledger learned, kept in SQLite so a restart starts warm.
This module is the queue to the file and its one writer thread; ``file`` opens the file
(locked, checked, migrated, moved aside) and ``records`` is what its rows hold.

One file (``books.sqlite`` in ``--storage.path``), WAL mode, created 0600. Rows are keyed by
a source's identity (name, type, base_url: a source pointed elsewhere starts clean) and a
campaign id; a row holds the last good snapshot as versioned JSON (never pickle) and what
the ledger knows of it: when it was read, its state and since when, first seen, finished;
the campaigns it does not read (retired, excluded) with why; and per source and endpoint
class the pace the upstream client learned from 429s.
Every time is wall-clock: a monotonic time means nothing after a restart.

Writes never happen on the event loop: a publication hands its changed campaigns to one
writer thread (a ``sqlite3`` connection belongs to its thread) through a latest-wins
queue, and each batch is one transaction. Bad storage never costs monitoring: a file in
use by another process, corrupt, truncated, of a newer schema, read-only or on a full disk
gets one log line and a start from empty, or a run without writing.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any, TypeVar

from ..clock import SYSTEM_CLOCK, Clock
from . import file
from .file import FILE_NAME, StorageError
from .ledger import Mark
from .reasons import SkipReason
from .records import LearnedPace, Row, StoredEntry, dump_snapshot, load_snapshot

log = logging.getLogger("campaign_exporter.storage")

T = TypeVar("T")


class Storage:
    """The queue to the books' file and its writer thread."""

    def __init__(self, path: Path, clock: Clock = SYSTEM_CLOCK) -> None:
        self.path = path
        self.clock = clock
        self.usable = False  # opened: it restores, and takes writes
        self.writable = False  # ... and its last write worked
        self.errors = 0  # failed writes (each logged once per kind of failure)
        self.writes = 0  # transactions committed
        self.rows_written = 0
        self._pending: dict[tuple[str, str], tuple[StoredEntry | None, str | None]] = {}
        self._keep: list[str] | None = None  # the only sources whose rows stay, once given
        self._kept: dict[str, list[Row]] = {}  # the file's rows at open, until restored
        self._pending_paces: dict[tuple[str, str], LearnedPace] = {}
        self._kept_paces: dict[str, dict[str, tuple[LearnedPace, float]]] = {}  # at open
        self._pending_marks: dict[tuple[str, str], Mark | None] = {}
        # (source, campaign) -> the snapshot the file holds, as last written (writer only)
        self._written: dict[tuple[str, str], Any] = {}
        self._kept_marks: dict[str, list[tuple[Mark, float]]] = {}  # at open
        self._busy = False  # the writer holds a batch
        self._cond = threading.Condition()
        self._closing = False
        self._logged: set[str] = set()
        self._lock_file: IO[str] | None = None
        self._thread: threading.Thread | None = None
        self._db: sqlite3.Connection | None = None

    # -- opening --------------------------------------------------------------------------

    @classmethod
    def open(cls, directory: Path, clock: Clock = SYSTEM_CLOCK) -> Storage:
        """The storage at ``directory``; without a usable file, one that restores nothing
        and writes nothing (``writable`` False), after one log line saying why."""
        storage = cls(directory / FILE_NAME, clock)
        try:
            storage._lock_file = file.lock(directory)
            storage._db, refused = file.connect(storage.path, clock)
        except StorageError as exc:
            log.error(
                "storage unusable, running without it",
                extra={"kv": {"path": str(storage.path), "err": str(exc)}},
            )
            return storage
        storage.writable = True
        if refused is not None:
            storage._failed("write", refused)  # the words each write would log: said once
        storage.usable = True
        storage._read_all()
        storage._thread = threading.Thread(
            target=storage._writer, name="storage-writer", daemon=True
        )
        storage._thread.start()
        return storage

    def _close_db(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    # -- reading ------------------------------------------------------------------------

    def load(self, key: str, max_age: float) -> list[Row]:
        """The rows of one source read within ``max_age`` seconds, once (at start: what
        the file held when it opened; the books are in memory from then on)."""
        since = self.clock.time() - max_age
        return [row for row in self._kept.pop(key, []) if row.updated_at >= since]

    def load_paces(self, key: str, max_age: float) -> dict[str, LearnedPace]:
        """One source's learned paces by endpoint class, learned within ``max_age``
        seconds, once (at start, as ``load``)."""
        since = self.clock.time() - max_age
        kept = self._kept_paces.pop(key, {})
        return {cls: pace for cls, (pace, at) in kept.items() if at >= since}

    def load_marks(self, key: str, max_age: float) -> list[Mark]:
        """One source's retirement and exclusion marks set within ``max_age`` seconds,
        once (at start, as ``load``)."""
        since = self.clock.time() - max_age
        return [mark for mark, at in self._kept_marks.pop(key, []) if at >= since]

    def _read_all(self) -> None:
        """Every row, parsed, by source: at open, off the event loop."""
        assert self._db is not None
        try:
            found = self._db.execute(
                "SELECT source, campaign_id, version, snapshot, updated_at, state, state_since,"
                " first_seen, finished_at FROM campaigns"
            ).fetchall()
            paces = self._db.execute(
                "SELECT source, class, rate, ceiling, measured, learned_at FROM paces"
            ).fetchall()
            marks = self._db.execute(
                "SELECT source, campaign_id, reason, version, marked_at FROM marks"
            ).fetchall()
        except sqlite3.DatabaseError as exc:
            self._failed("read", exc)
            return
        reasons = {r.value: r for r in SkipReason}
        for key, cid, reason, version, at in marks:
            if reason in reasons and isinstance(at, float):
                mark = Mark(cid, reasons[reason], version)
                self._kept_marks.setdefault(key, []).append((mark, at))
        for key, cls, rate, ceiling, measured, at in paces:
            if isinstance(rate, float) and rate > 0 and isinstance(at, float):
                learned = LearnedPace(
                    rate, ceiling if isinstance(ceiling, float) else None, bool(measured)
                )
                self._kept_paces.setdefault(key, {})[cls] = (learned, at)
        for key, cid, version, snapshot, updated, state, since, first, finished in found:
            try:
                doc = load_snapshot(snapshot)
            except ValueError:
                continue
            row = Row(cid, version, doc, updated, state, since, first, finished)
            self._kept.setdefault(key, []).append(row)

    def forget_others(self, keep: set[str]) -> None:
        """Drop the rows of sources no longer configured (or now another source)."""
        if not self.usable:
            return
        self._kept = {k: rows for k, rows in self._kept.items() if k in keep}
        self._kept_paces = {k: p for k, p in self._kept_paces.items() if k in keep}
        self._kept_marks = {k: m for k, m in self._kept_marks.items() if k in keep}
        with self._cond:
            self._keep = sorted(keep)
            self._cond.notify()

    # -- writing --------------------------------------------------------------------------

    def submit(
        self, key: str, changes: Mapping[str, tuple[StoredEntry | None, str | None]]
    ) -> None:
        """What a publication changed: campaign id -> (entry, listing version), or None
        for a campaign that left the books. A newer change of a campaign replaces a
        pending one (latest wins)."""
        self._put(self._pending, key, changes)

    def submit_paces(self, key: str, paces: Mapping[str, LearnedPace]) -> None:
        """A source's learned paces, by endpoint class (latest wins, as ``submit``)."""
        self._put(self._pending_paces, key, paces)

    def submit_marks(self, key: str, marks: Mapping[str, Mark | None]) -> None:
        """A source's changed retirement and exclusion marks (None: the campaign has none
        any more), latest wins as ``submit``."""
        self._put(self._pending_marks, key, marks)

    def _put(self, pending: dict[tuple[str, str], T], key: str, items: Mapping[str, T]) -> None:
        """Queue one source's items for the writer: a newer one replaces a pending one."""
        if not self.usable:
            return
        with self._cond:
            for name, item in items.items():
                pending[(key, name)] = item
            self._cond.notify()

    def _idle(self) -> bool:
        pending = self._pending or self._pending_paces or self._pending_marks
        return not (pending or self._keep is not None or self._busy)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until what was submitted is written (tests, and a clean stop)."""
        with self._cond:
            return self._cond.wait_for(self._idle, timeout)

    def _writer(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: not self._idle() or self._closing)
                if self._idle() and self._closing:
                    return
                batch, self._pending = self._pending, {}
                paces, self._pending_paces = self._pending_paces, {}
                marks, self._pending_marks = self._pending_marks, {}
                keep, self._keep = self._keep, None
                self._busy = True
            try:
                self._write(batch, keep, paces, marks)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _write(
        self,
        batch: dict[tuple[str, str], tuple[StoredEntry | None, str | None]],
        keep: list[str] | None,
        paces: Mapping[tuple[str, str], LearnedPace] | None = None,
        marks: Mapping[tuple[str, str], Mark | None] | None = None,
    ) -> None:
        db = self._db
        if db is None:
            return
        upserts, deletes, touches = [], [], []
        written: dict[tuple[str, str], Any] = {}
        for (key, cid), (entry, version) in batch.items():
            if entry is None:
                deletes.append((key, cid))
            elif self._written.get((key, cid)) == entry.snapshot:
                # read again, the same: only the times and state move (no JSON to make)
                touches.append(
                    (
                        version,
                        entry.updated_at,
                        entry.state,
                        entry.state_since,
                        entry.first_seen,
                        entry.finished_at,
                        key,
                        cid,
                    )
                )
                written[(key, cid)] = entry.snapshot
            else:
                try:
                    doc = dump_snapshot(entry.snapshot)
                except (TypeError, ValueError) as exc:
                    self._failed("encode", exc)
                    continue
                upserts.append(
                    (
                        key,
                        cid,
                        version,
                        doc,
                        entry.updated_at,
                        entry.state,
                        entry.state_since,
                        entry.first_seen,
                        entry.finished_at,
                    )
                )
                written[(key, cid)] = entry.snapshot
        try:
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "INSERT OR REPLACE INTO campaigns VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", upserts
            )
            db.executemany(
                "UPDATE campaigns SET version = ?, updated_at = ?, state = ?, state_since = ?,"
                " first_seen = ?, finished_at = ? WHERE source = ? AND campaign_id = ?",
                touches,
            )
            db.executemany("DELETE FROM campaigns WHERE source = ? AND campaign_id = ?", deletes)
            now = self.clock.time()
            db.executemany(
                "INSERT OR REPLACE INTO paces VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (key, cls, p.rate, p.ceiling, int(p.measured), now)
                    for (key, cls), p in (paces or {}).items()
                ],
            )
            marked = [(k, c, m) for (k, c), m in (marks or {}).items()]
            db.executemany(
                "INSERT OR REPLACE INTO marks VALUES (?, ?, ?, ?, ?)",
                [(k, c, m.reason.value, m.version, now) for k, c, m in marked if m is not None],
            )
            db.executemany(
                "DELETE FROM marks WHERE source = ? AND campaign_id = ?",
                [(k, c) for k, c, m in marked if m is None],
            )
            if keep is not None:
                holes = ",".join("?" * len(keep))
                for table in ("campaigns", "paces", "marks"):
                    db.execute(f"DELETE FROM {table} WHERE source NOT IN ({holes})", keep)  # noqa: S608 - a table of ours, placeholders
            db.execute("COMMIT")
        except sqlite3.DatabaseError as exc:  # disk full, read-only, I/O error
            if db.in_transaction:
                db.execute("ROLLBACK")
            self._failed("write", exc)
            return
        self.writes += 1
        self.rows_written += len(upserts) + len(touches) + len(deletes)
        # what the file now holds of each snapshot: a later equal one only touches its row
        self._written.update(written)
        for gone in deletes:
            self._written.pop(gone, None)
        if keep is not None:
            kept = set(keep)
            self._written = {k: v for k, v in self._written.items() if k[0] in kept}
        if not self.writable:
            self.writable = True
            log.info("storage writable again", extra={"kv": {"path": str(self.path)}})

    def _failed(self, what: str, exc: Exception) -> None:
        self.errors += 1
        if what == "write":
            self.writable = False
        words = f"{what}: {exc}"
        if words not in self._logged:
            self._logged.add(words)
            log.error("storage failed", extra={"kv": {"path": str(self.path), "err": words}})

    def close(self) -> None:
        """Write what is pending, then close the file."""
        if self._thread is not None:
            with self._cond:
                self._closing = True
                self._cond.notify()
            self._thread.join(timeout=30)
            self._thread = None
        self._close_db()
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None
