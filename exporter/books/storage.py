"""The books on disk: what the ledger learned, kept in SQLite so a restart starts warm.

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
gets one log line and a start from empty, or a run without writing; a corrupt or newer
file is moved aside, never overwritten, and only a file SQLite calls damaged counts as
corrupt (one it cannot open, lock or write to is left as it is). An older schema migrates.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
import sqlite3
import threading
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar, Union

from ..clock import SYSTEM_CLOCK, Clock
from ..upstream.pacing import LearnedPace
from .ledger import Entry, Mark
from .reasons import SkipReason

log = logging.getLogger("campaign_exporter.storage")

FILE_NAME = "books.sqlite"
SNAPSHOT_FORMAT = 1  # the version each snapshot's JSON carries

T = TypeVar("T")


class StoredEntry(Protocol):
    """What is written of one ledger entry (``ledger.Entry``)."""

    campaign_id: str
    snapshot: Any
    updated_at: float
    state: str | None
    state_since: float
    first_seen: float
    finished_at: float | None


@dataclass(frozen=True)
class Row:
    """One campaign as stored: the snapshot still JSON, decoded by whoever knows its type."""

    campaign_id: str
    version: str | None  # the listing version it was selected at
    snapshot: Any  # decoded JSON
    updated_at: float
    state: str | None
    state_since: float
    first_seen: float
    finished_at: float | None


def source_key(name: str, type_name: str, base_url: str) -> str:
    """A source's identity in the file: a new base_url (or name, or type) starts clean."""
    return hashlib.sha256(json.dumps([name, type_name, base_url]).encode()).hexdigest()[:32]


# -- snapshots as JSON ------------------------------------------------------------------


def encode(value: Any) -> Any:
    """A snapshot (dataclasses, dicts, lists, dates, scalars) as plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [encode(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"cannot store a {type(value).__name__}")


def decode(kind: Any, data: Any) -> Any:
    """``data`` (from ``encode``) back as ``kind``, by its type hints; a ValueError or
    TypeError when it does not fit."""
    origin = typing.get_origin(kind)
    if origin in (Union, types.UnionType):
        options = typing.get_args(kind)
        if data is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return decode(option, data)
            except (TypeError, ValueError) as exc:
                errors.append(exc)
        raise ValueError(f"fits none of {kind}: {errors}")
    if kind is Any:
        return data
    if dataclasses.is_dataclass(kind) and isinstance(kind, type):
        if not isinstance(data, dict):
            raise TypeError(f"{kind.__name__}: expected an object")
        hints = typing.get_type_hints(kind)
        values = {
            f.name: decode(hints[f.name], data[f.name])
            for f in dataclasses.fields(kind)
            if f.init and f.name in data
        }
        return kind(**values)
    if origin in (dict, Mapping) or kind is dict:
        if not isinstance(data, dict):
            raise TypeError("expected an object")
        key_type, value_type = typing.get_args(kind) or (str, Any)
        return {decode(key_type, k): decode(value_type, v) for k, v in data.items()}
    if origin in (list, tuple, Sequence, frozenset, set):
        if not isinstance(data, list):
            raise TypeError("expected a list")
        args = typing.get_args(kind)
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return tuple(decode(a, v) for a, v in zip(args, data, strict=True))
        item = args[0] if args else Any
        items = [decode(item, v) for v in data]
        return items if origin in (list, Sequence) else origin(items)
    if kind is dt.date:
        if not isinstance(data, str):
            raise TypeError("expected a date")
        return dt.date.fromisoformat(data)
    if kind is float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            raise TypeError("expected a number")
        return float(data)
    if kind in (int, str, bool):
        if type(data) is not kind:
            raise TypeError(f"expected {kind.__name__}")
        return data
    if typing.get_origin(kind) is typing.Literal:
        if data not in typing.get_args(kind):
            raise ValueError(f"not one of {typing.get_args(kind)}")
        return data
    raise TypeError(f"cannot restore a {kind}")


def entries(
    rows: Sequence[Row], snapshot_type: Any
) -> tuple[list[tuple[Entry[Any], str | None]], int]:
    """The rows as ledger entries with their listing versions, in the order stored; and
    how many could not be restored (a snapshot that no longer fits its type)."""
    out: list[tuple[Entry[Any], str | None]] = []
    bad = 0
    for row in rows:
        try:
            snapshot = decode(snapshot_type, row.snapshot)
        except (TypeError, ValueError, KeyError):
            bad += 1
            continue
        entry = Entry(
            row.campaign_id,
            snapshot,
            row.updated_at,
            row.state,
            row.state_since,
            row.first_seen,
            row.finished_at,
        )
        out.append((entry, row.version))
    return out, bad


# -- the file ---------------------------------------------------------------------------


class StorageError(Exception):
    """The file cannot be used; the message is the one log line."""


class Damaged(Exception):
    """The file is no sound SQLite database (corrupt, truncated, not SQLite): moved aside."""


def damaged(exc: sqlite3.DatabaseError) -> bool:
    """Whether SQLite says the file itself is bad, not that it cannot get at it (locked,
    read-only, disk full, an I/O error): only the first is moved aside."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def _create(db: sqlite3.Connection) -> None:
    db.execute(
        "CREATE TABLE IF NOT EXISTS campaigns ("
        " source TEXT NOT NULL, campaign_id TEXT NOT NULL, version TEXT,"
        " snapshot TEXT NOT NULL, updated_at REAL NOT NULL, state TEXT,"
        " state_since REAL NOT NULL, first_seen REAL NOT NULL, finished_at REAL,"
        " PRIMARY KEY (source, campaign_id)) WITHOUT ROWID"
    )


def _learned(db: sqlite3.Connection) -> None:
    """Version 2: each source's learned pace per endpoint class, and the retirement and
    exclusion marks of campaigns it does not read."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS paces ("
        " source TEXT NOT NULL, class TEXT NOT NULL, rate REAL NOT NULL, ceiling REAL,"
        " measured INTEGER NOT NULL, learned_at REAL NOT NULL,"
        " PRIMARY KEY (source, class)) WITHOUT ROWID"
    )
    db.execute(
        "CREATE TABLE IF NOT EXISTS marks ("
        " source TEXT NOT NULL, campaign_id TEXT NOT NULL, reason TEXT NOT NULL,"
        " version TEXT, marked_at REAL NOT NULL,"
        " PRIMARY KEY (source, campaign_id)) WITHOUT ROWID"
    )


# The schema's steps: MIGRATIONS[n] takes a file from user_version n to n + 1, in one
# transaction with the new version (step 0 makes version 1 from an empty file); a change
# of the tables is a step appended here, never an edit of one.
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_create, _learned)
SCHEMA = len(MIGRATIONS)


class Storage:
    """The books' file and its writer thread."""

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
        self._lock_file: Any = None
        self._thread: threading.Thread | None = None
        self._db: sqlite3.Connection | None = None

    # -- opening --------------------------------------------------------------------------

    @classmethod
    def open(cls, directory: Path, clock: Clock = SYSTEM_CLOCK) -> Storage:
        """The storage at ``directory``; without a usable file, one that restores nothing
        and writes nothing (``writable`` False), after one log line saying why."""
        storage = cls(directory / FILE_NAME, clock)
        try:
            storage._open(directory)
        except StorageError as exc:
            log.error(
                "storage unusable, running without it",
                extra={"kv": {"path": str(storage.path), "err": str(exc)}},
            )
            storage._close_db()
            return storage
        storage.usable = True
        storage._read_all()
        storage._thread = threading.Thread(
            target=storage._writer, name="storage-writer", daemon=True
        )
        storage._thread.start()
        return storage

    def _open(self, directory: Path) -> None:
        try:
            directory.mkdir(parents=True, exist_ok=True)
            lock = open(directory / (FILE_NAME + ".lock"), "a")  # noqa: SIM115 (held open)
        except OSError as exc:
            raise StorageError(f"cannot use the directory: {exc.strerror or exc}") from None
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            raise StorageError("in use by another campaign-exporter process") from None
        self._lock_file = lock
        try:
            self._connect()
        except Damaged as exc:  # corrupt, truncated, not a database
            self._close_db()  # before the move: closing would write to what moved
            aside = self._move_aside("corrupt")
            log.error(
                "storage file unreadable: moved aside, starting from empty",
                extra={"kv": {"path": str(self.path), "to": str(aside), "err": str(exc)}},
            )
            self._close_db()
            try:
                self._connect()
            except Damaged as again:
                raise StorageError(f"cannot create the file: {again}") from None

    def _connect(self) -> None:
        try:
            if not self.path.exists():  # created 0600: the books name campaigns
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StorageError(f"cannot open the file: {exc}") from None
        self._db = db
        try:
            sound = db.execute("PRAGMA quick_check").fetchone()[0] == "ok"
            version = db.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            if damaged(exc):
                raise Damaged(str(exc)) from None
            raise StorageError(f"cannot read the file: {exc}") from None  # locked, disk full
        if not sound:
            raise Damaged("integrity check failed")
        if version > SCHEMA:  # before anything writes to it
            self._close_db()
            aside = self._move_aside(f"schema-{version}")
            log.error(
                "storage file of a newer version: moved aside, starting from empty",
                extra={"kv": {"path": str(self.path), "to": str(aside), "schema": version}},
            )
            self._connect()
            return
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._migrate(db, version)
        except sqlite3.DatabaseError as exc:  # read-only file or directory, disk full
            raise StorageError(f"cannot write the file: {exc}") from None
        self.writable = True
        try:  # a read-only file of this schema opens: it restores, and cannot write
            db.execute("BEGIN IMMEDIATE")
            db.execute(f"PRAGMA user_version={SCHEMA}")  # a write, rolled back
            db.execute("ROLLBACK")
        except sqlite3.DatabaseError as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            self._failed("write", exc)  # the words each write would log: said once

    @staticmethod
    def _migrate(db: sqlite3.Connection, version: int) -> None:
        """From ``version`` up to SCHEMA, a step at a time."""
        for step in range(version, SCHEMA):
            db.execute("BEGIN IMMEDIATE")
            try:
                MIGRATIONS[step](db)
                db.execute(f"PRAGMA user_version={step + 1}")
                db.execute("COMMIT")
            except sqlite3.DatabaseError:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

    def _move_aside(self, why: str) -> Path:
        stamp = dt.datetime.fromtimestamp(self.clock.time(), dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        aside = self.path.with_name(f"{FILE_NAME}.{why}-{stamp}")
        try:
            for suffix in ("", "-wal", "-shm"):
                part = Path(str(self.path) + suffix)
                if part.exists():
                    part.rename(Path(str(aside) + suffix))
        except OSError as exc:
            raise StorageError(f"cannot move the file aside: {exc.strerror or exc}") from None
        return aside

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
                doc = json.loads(snapshot)
            except ValueError:
                continue
            if not isinstance(doc, dict) or doc.get("format") != SNAPSHOT_FORMAT:
                continue
            row = Row(cid, version, doc.get("snapshot"), updated, state, since, first, finished)
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
                    doc = json.dumps(
                        {"format": SNAPSHOT_FORMAT, "snapshot": encode(entry.snapshot)}
                    )
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
