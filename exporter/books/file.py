"""The books' SQLite file: taken for this process alone, opened sound and at this schema.

A file in use by another process, or one SQLite cannot open, lock or write to, is a
``StorageError`` (left as it is); a corrupt or truncated one, or one of a newer schema, is
moved aside, never overwritten, and a new one made in its place; an older schema
migrates a step at a time. Created 0600: the books name campaigns.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import logging
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import IO

from ..clock import Clock

log = logging.getLogger("campaign_exporter.storage")

FILE_NAME = "books.sqlite"


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


def lock(directory: Path) -> IO[str]:
    """The directory's lock, held (by keeping the file open) while this process uses it."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        held = open(directory / (FILE_NAME + ".lock"), "a")  # noqa: SIM115 (held open)
    except OSError as exc:
        raise StorageError(f"cannot use the directory: {exc.strerror or exc}") from None
    try:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        held.close()
        raise StorageError("in use by another campaign-exporter process") from None
    return held


def connect(path: Path, clock: Clock) -> tuple[sqlite3.Connection, sqlite3.DatabaseError | None]:
    """The database at ``path``, sound and migrated (a damaged file moved aside for a new
    one first), and what refuses a write to it (None: it takes writes; a read-only file
    of this schema opens, restores, and cannot write)."""
    try:
        return _connect(path, clock)
    except Damaged as exc:  # corrupt, truncated, not a database
        aside = move_aside(path, clock, "corrupt")
        log.error(
            "storage file unreadable: moved aside, starting from empty",
            extra={"kv": {"path": str(path), "to": str(aside), "err": str(exc)}},
        )
        try:
            return _connect(path, clock)
        except Damaged as again:
            raise StorageError(f"cannot create the file: {again}") from None


def _connect(path: Path, clock: Clock) -> tuple[sqlite3.Connection, sqlite3.DatabaseError | None]:
    try:
        if not path.exists():  # created 0600: the books name campaigns
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    except (OSError, sqlite3.Error) as exc:
        raise StorageError(f"cannot open the file: {exc}") from None
    try:
        version = _checked(db)
        if version <= SCHEMA:
            return db, _prepared(db, version)
    except BaseException:
        db.close()  # before a move aside: closing would write to what moved
        raise
    db.close()  # of a newer version: moved aside before anything writes to it
    aside = move_aside(path, clock, f"schema-{version}")
    log.error(
        "storage file of a newer version: moved aside, starting from empty",
        extra={"kv": {"path": str(path), "to": str(aside), "schema": version}},
    )
    return _connect(path, clock)


def _checked(db: sqlite3.Connection) -> int:
    """The file's schema version, once SQLite finds the file sound."""
    try:
        sound = db.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        version: int = db.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        if damaged(exc):
            raise Damaged(str(exc)) from None
        raise StorageError(f"cannot read the file: {exc}") from None  # locked, disk full
    if not sound:
        raise Damaged("integrity check failed")
    return version


def _prepared(db: sqlite3.Connection, version: int) -> sqlite3.DatabaseError | None:
    """WAL mode and the schema migrated; what refuses a write, tried and rolled back."""
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        migrate(db, version)
    except sqlite3.DatabaseError as exc:  # read-only file or directory, disk full
        raise StorageError(f"cannot write the file: {exc}") from None
    try:
        db.execute("BEGIN IMMEDIATE")
        db.execute(f"PRAGMA user_version={SCHEMA}")  # a write, rolled back
        db.execute("ROLLBACK")
    except sqlite3.DatabaseError as exc:
        if db.in_transaction:
            db.execute("ROLLBACK")
        return exc
    return None


def migrate(db: sqlite3.Connection, version: int) -> None:
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


def move_aside(path: Path, clock: Clock, why: str) -> Path:
    """The file (with its WAL and shared memory) renamed, stamped with why and when."""
    stamp = dt.datetime.fromtimestamp(clock.time(), dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{FILE_NAME}.{why}-{stamp}")
    try:
        for suffix in ("", "-wal", "-shm"):
            part = Path(str(path) + suffix)
            if part.exists():
                part.rename(Path(str(aside) + suffix))
    except OSError as exc:
        raise StorageError(f"cannot move the file aside: {exc.strerror or exc}") from None
    return aside
