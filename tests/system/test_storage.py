"""The books kept on disk (--storage.path): a restart serves what the last run knew at once,
bad storage never costs monitoring, and a kill during a write loses at most that write."""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from exporter.simulator import SimulatorSettings, SimulatorThread
from tests.helpers import (
    ExporterProcess,
    Samples,
    age_books,
    experiture_source,
    ga_source,
    wait_for_sync,
    write_config,
)

STATE = "experiture_campaign_execution_state"
EXP_UPDATED = "experiture_campaign_last_updated_timestamp_seconds"
GA_FIRST = "greenarrow_campaign_first_seen_timestamp_seconds"
GA_SINCE = "greenarrow_campaign_state_first_seen_timestamp_seconds"
GA_UPDATED = "greenarrow_campaign_last_updated_timestamp_seconds"
WRITABLE = "campaign_exporter_storage_writable"
ERRORS = "campaign_exporter_storage_errors_total"
START = "campaign_exporter_start_timestamp_seconds"
KEPT = (STATE, EXP_UPDATED, GA_FIRST, GA_SINCE, GA_UPDATED)


def _config(tmp_path: Path, url: str) -> Path:
    return write_config(
        tmp_path, {"sources": [experiture_source(url), ga_source(url, lookback="30d")]}
    )


Kept = dict[str, dict[str, float]]


def _kept(exporter: ExporterProcess) -> Kept:
    """Every campaign's kept series, by family and campaign (and state)."""
    found = exporter.scrape(list(KEPT))
    out: Kept = {}
    for name in KEPT:
        for labels, value in found.values(name):
            key = labels["campaign_id"] + ("/" + labels["state"] if "state" in labels else "")
            out.setdefault(name, {})[key] = value
    return out


def _round_done(exporter: ExporterProcess) -> None:
    for source in ("prod", "ga"):
        exporter.wait_refreshes(source, 1)


def _one_round(tmp_path: Path, books: Path, campaigns: int) -> tuple[Path, Kept]:
    """A simulator and an exporter keeping its books in ``books`` for one whole round,
    both stopped after: the config and what /metrics showed last."""
    settings = SimulatorSettings(
        experiture_campaigns=campaigns, greenarrow_campaigns=campaigns, speed=0
    )
    with SimulatorThread(settings) as sim:
        path = _config(tmp_path, sim.url)
        with ExporterProcess(f"--config.file={path}", f"--storage.path={books}") as first:
            _round_done(first)
            kept = _kept(first)
            assert first.scrape([WRITABLE]).value(WRITABLE) == 1
            assert first.stop() == 0
    return path, kept


def test_a_restart_serves_the_last_run_s_books_at_once(tmp_path: Path) -> None:
    """Stop after a whole round, take the vendor away, start again: every campaign is on
    /metrics with the same values and ages (GreenArrow's first-seen times among them,
    which the API cannot tell again), though nothing can be read."""
    books = tmp_path / "books"
    path, before = _one_round(tmp_path, books, 40)
    assert len(before[STATE]) >= 40 * 6 // 2  # a state set of 6 per campaign read
    assert len(before[GA_FIRST]) >= 20
    assert (books / "books.sqlite").stat().st_mode & 0o777 == 0o600
    # the vendor is gone: what /metrics shows comes from the file alone
    with ExporterProcess(f"--config.file={path}", f"--storage.path={books}") as second:
        wait_for_sync(lambda: _kept(second) == before, "the kept books on /metrics")
        up = "campaign_exporter_source_up"
        wait_for_sync(
            lambda: second.scrape([up]).value(up, source="prod") == 0, "the source to be down"
        )
        assert _kept(second) == before  # a failed read keeps the last good values


def _control(url: str, body: Any, method: str = "POST") -> None:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - loopback URL
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - loopback URL
        pass


def test_after_an_hour_down_restored_values_carry_their_age_until_read(tmp_path: Path) -> None:
    """The last run ended an hour ago (its books aged by an hour; the simulator's clock set
    back an hour for it, then moved on): one campaign failed before its stop, another,
    running then, failed meanwhile. While every /status read fails, each campaign is on
    /metrics as stored, its last read an hour before this process started (what the alerts
    leave out); once the reads come back, the new failure replaces the restored state and
    the stored one is read again, both after the start."""
    books = tmp_path / "books"
    settings = SimulatorSettings(experiture_campaigns=30, greenarrow_campaigns=5, speed=0)
    with SimulatorThread(settings) as sim:
        _control(f"{sim.url}/_sim/clock", {"advance": -3600})
        source = experiture_source(sim.url, poll_interval="1s")
        path = write_config(tmp_path, {"sources": [source]})
        with ExporterProcess(f"--config.file={path}", f"--storage.path={books}") as first:
            first.wait_refreshes("prod", 1)
            first.wait_states_read()
            states = first.scrape([STATE]).values(STATE, state="running")
            running = sorted(labels["campaign_id"] for labels, value in states if value)
            assert len(running) >= 2
            victim, seen_failed = running[0], running[1]  # fails after, and before, the stop
            _control(f"{sim.url}/_sim/experiture/campaigns/{seen_failed}/fail?edit=0", None)
            wait_for_sync(
                lambda: first.scrape([STATE]).value(STATE, campaign_id=seen_failed, state="failed"),
                "the failure seen before the stop",
            )
            before = _kept(first)
            assert first.stop() == 0
        age_books(books / "books.sqlite", 3600)
        _control(f"{sim.url}/_sim/clock", {"advance": 3600})
        _control(f"{sim.url}/_sim/experiture/campaigns/{victim}/fail?edit=0", None)
        fault = {"kind": "http_5xx", "api": "experiture", "endpoint": "status"}
        _control(f"{sim.url}/_sim/faults", fault)
        started = time.time()
        with ExporterProcess(f"--config.file={path}", f"--storage.path={books}") as second:
            second.wait_ready()
            shown = second.scrape([STATE, EXP_UPDATED, START])
            start = shown.value(START)
            assert start is not None and started - 1 < start < time.time()
            for cid, read in before[EXP_UPDATED].items():
                assert shown.value(EXP_UPDATED, campaign_id=cid) == read - 3600  # its real age
            assert shown.value(STATE, campaign_id=victim, state="running") == 1
            assert shown.value(STATE, campaign_id=seen_failed, state="failed") == 1

            _control(f"{sim.url}/_sim/faults", None, method="DELETE")

            def read_again(cid: str, state: str) -> bool:
                found = second.scrape([STATE, EXP_UPDATED])
                updated = found.value(EXP_UPDATED, campaign_id=cid)
                return (
                    found.value(STATE, campaign_id=cid, state=state) == 1
                    and updated is not None
                    and updated >= start
                )

            wait_for_sync(lambda: read_again(victim, "failed"), "the failure read again")
            wait_for_sync(
                lambda: read_again(seen_failed, "failed"), "the stored failure read again"
            )


def test_a_source_pointed_elsewhere_starts_clean(tmp_path: Path) -> None:
    books = tmp_path / "books"
    _one_round(tmp_path, books, 10)
    moved = write_config(
        tmp_path,
        {"sources": [experiture_source("http://127.0.0.1:9"), ga_source("http://127.0.0.1:9")]},
    )
    with ExporterProcess(f"--config.file={moved}", f"--storage.path={books}") as second:
        second.wait_ready()
        assert _kept(second) == {}
        assert second.scrape([WRITABLE]).value(WRITABLE) == 1
    db = sqlite3.connect(books / "books.sqlite")
    assert db.execute("SELECT count(*) FROM campaigns").fetchone()[0] == 0  # rows of the old


def test_a_source_removed_by_a_reload_leaves_the_file(tmp_path: Path) -> None:
    """Its rows go when the reload applies, not at the next restart."""
    books = tmp_path / "books"
    settings = SimulatorSettings(experiture_campaigns=10, greenarrow_campaigns=10, speed=0)
    with SimulatorThread(settings) as sim:
        path = _config(tmp_path, sim.url)
        with ExporterProcess(f"--config.file={path}", f"--storage.path={books}") as exporter:
            _round_done(exporter)

            def rows() -> list[int]:
                """Rows per source in the file, as another reader sees it."""
                db = sqlite3.connect(f"file:{books / 'books.sqlite'}?mode=ro", uri=True)
                try:
                    found = db.execute("SELECT count(*) FROM campaigns GROUP BY source")
                    return sorted(n for (n,) in found)
                finally:
                    db.close()

            wait_for_sync(lambda: len(rows()) == 2, "both sources' rows")
            write_config(tmp_path, {"sources": [experiture_source(sim.url)]})
            exporter.proc.send_signal(signal.SIGHUP)
            wait_for_sync(lambda: len(rows()) == 1, "the removed source's rows to go")
            kept = exporter.scrape([STATE]).by_campaign(STATE, state="running")
            assert kept  # the source still configured keeps its books
            assert exporter.scrape([GA_FIRST]).values(GA_FIRST) == []


def test_a_second_process_on_the_same_file_runs_without_storage(tmp_path: Path) -> None:
    books = tmp_path / "books"
    settings = SimulatorSettings(experiture_campaigns=5, greenarrow_campaigns=5, speed=0)
    with SimulatorThread(settings) as sim:
        path = _config(tmp_path, sim.url)
        with ExporterProcess(f"--config.file={path}", f"--storage.path={books}") as first:
            first.wait_ready()
            with ExporterProcess(f"--config.file={path}", f"--storage.path={books}") as second:
                _round_done(second)  # it monitors all the same
                assert second.scrape([WRITABLE]).value(WRITABLE) == 0
                lines = [line for line in second.lines if "storage" in line]
                assert len(lines) == 1, lines
                assert "in use by another campaign-exporter process" in lines[0]
                assert "Traceback" not in "".join(second.lines)
            assert first.scrape([WRITABLE]).value(WRITABLE) == 1


def test_a_corrupt_or_newer_file_is_moved_aside_never_overwritten(tmp_path: Path) -> None:
    settings = SimulatorSettings(experiture_campaigns=5, greenarrow_campaigns=5, speed=0)
    with SimulatorThread(settings) as sim:
        path = _config(tmp_path, sim.url)
        for case in ("corrupt", "newer"):
            books = tmp_path / case
            books.mkdir()
            file = books / "books.sqlite"
            if case == "corrupt":
                file.write_bytes(b"SQLite format 3\x00" + os.urandom(4096))
            else:
                db = sqlite3.connect(file)
                db.execute("CREATE TABLE future (x)")
                db.execute("PRAGMA user_version=99")
                db.commit()
                db.close()
            original = file.read_bytes()
            with ExporterProcess(f"--config.file={path}", f"--storage.path={books}") as exp:
                _round_done(exp)
                aside = sorted(p.name for p in books.iterdir() if ".sqlite." in p.name)
                expected = (
                    "books.sqlite.corrupt-" if case == "corrupt" else "books.sqlite.schema-99-"
                )
                assert [n for n in aside if n.startswith(expected)], aside
                kept = books / next(n for n in aside if n.startswith(expected) and "-wal" not in n)
                assert kept.read_bytes() == original
                assert exp.scrape([WRITABLE]).value(WRITABLE) == 1  # a new file, from empty
                assert "Traceback" not in "".join(exp.lines)


def test_a_kill_during_writes_leaves_a_sound_file(tmp_path: Path) -> None:
    """SIGKILL at a random moment while the books are being written, 20 times: each time
    the file passes SQLite's integrity check and the next start restores from it."""
    books = tmp_path / "books"
    rng = random.Random(7)  # noqa: S311 - moments to kill at, not a secret
    settings = SimulatorSettings(experiture_campaigns=300, greenarrow_campaigns=100, speed=0)
    with SimulatorThread(settings) as sim:
        path = write_config(
            tmp_path,
            {"sources": [experiture_source(sim.url, poll_interval="1s"), ga_source(sim.url)]},
        )
        file = books / "books.sqlite"
        for _ in range(20):
            since = time.time()
            with ExporterProcess(f"--config.file={path}", f"--storage.path={books}") as exp:
                wait_for_sync(functools.partial(_written, file, since), "a write to the books")
                time.sleep(rng.uniform(0.0, 0.3))
                exp.stop(signal.SIGKILL)
            db = sqlite3.connect(file)
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            db.close()


def _written(file: Path, since: float) -> bool:
    """Whether this run has written to the books (its write-ahead log moved)."""
    wal = Path(f"{file}-wal")
    return wal.exists() and wal.stat().st_mtime > since and wal.stat().st_size > 0


# -- bad storage: one log line, /metrics served, writable 0 where it cannot write ---------


def _as_root(*command: str) -> None:
    """A mount or chattr a test stands on: root may (CI runs as root); elsewhere a skip,
    in CI a failure."""
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        message = f"{' '.join(command)}: {result.stderr.strip()} (the test needs root)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@contextlib.contextmanager
def _tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A small filesystem of its own at ``path`` (to fill, or make read-only: as root, a
    file's mode stops nothing), until the block ends."""
    path.mkdir()
    _as_root("mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "books", str(path))
    try:
        yield path
    finally:
        subprocess.run(["umount", "--lazy", str(path)], check=True)


@contextlib.contextmanager
def _immutable(path: Path) -> Iterator[None]:
    """``path`` immutable (chattr +i: not even root may change it) until the block ends."""
    _as_root("chattr", "+i", str(path))
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def _fill(directory: Path) -> Path:
    """A file taking every free byte of ``directory``'s filesystem."""
    filler = directory / "filler"
    with filler.open("wb", buffering=0) as out:
        for chunk in (1 << 20, 4096, 1):
            try:
                while True:
                    out.write(b"\0" * chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
    assert os.statvfs(directory).f_bavail == 0
    return filler


def _storage_lines(exporter: ExporterProcess) -> list[str]:
    """What the exporter logged of its books' file."""
    return [line for line in exporter.lines if "logger=storage " in line]


def _restored(exporter: ExporterProcess) -> int:
    """Campaigns the exporter restored at start, all sources, as its log lines say."""
    lines = [line for line in exporter.lines if 'msg="books restored"' in line]
    return sum(int(m.group(1)) for line in lines if (m := re.search(r" campaigns=(\d+)", line)))


def _contents(directory: Path) -> dict[str, str]:
    """Each file in ``directory`` and a hash of its bytes."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in directory.iterdir()}


def _assert_unchanged(directory: Path, before: dict[str, str]) -> None:
    """Every file as it was; new ones only the -wal and -shm SQLite opens beside a file it
    then cannot use (and so does not remove)."""
    after = _contents(directory)
    assert {name: after.get(name) for name in before} == before
    assert set(after) - set(before) <= {"books.sqlite-wal", "books.sqlite-shm"}


def _rows(file: Path) -> int:
    """The campaigns stored in ``file`` (closed after: its -wal and -shm go with it)."""
    with contextlib.closing(sqlite3.connect(file)) as db:
        return int(db.execute("SELECT count(*) FROM campaigns").fetchone()[0])


def _whole_round(path: Path, books: Path) -> set[str]:
    """An exporter keeping its books in ``books`` for one whole round, stopped after: the
    campaigns it served."""
    with ExporterProcess(f"--config.file={path}", f"--storage.path={books}") as exp:
        _round_done(exp)
        assert exp.scrape([WRITABLE]).value(WRITABLE) == 1
        served = set(_kept(exp)[STATE])
        assert exp.stop() == 0
    assert len(served) >= 10 * 6 // 2  # a state set of 6 per campaign read
    return served


def _monitors_all_the_same(exporter: ExporterProcess, served: set[str]) -> None:
    """A whole round served as a good run serves it, and no crash."""
    _round_done(exporter)
    assert set(_kept(exporter)[STATE]) == served
    assert exporter.proc.poll() is None
    assert "Traceback" not in "".join(exporter.lines)


def _ten_campaigns() -> SimulatorThread:
    return SimulatorThread(
        SimulatorSettings(experiture_campaigns=10, greenarrow_campaigns=10, speed=0)
    )


def test_a_truncated_file_is_moved_aside_and_the_exporter_starts_from_empty(
    tmp_path: Path,
) -> None:
    books = tmp_path / "books"
    with _ten_campaigns() as sim:
        path = _config(tmp_path, sim.url)
        served = _whole_round(path, books)
        file = books / "books.sqlite"
        assert sorted(p.name for p in books.iterdir()) == ["books.sqlite", "books.sqlite.lock"]
        os.truncate(file, file.stat().st_size // 2 + 123)  # a copy cut short, mid-page
        truncated = file.read_bytes()
        with ExporterProcess(f"--config.file={path}", f"--storage.path={books}") as exp:
            _monitors_all_the_same(exp, served)
            [line] = _storage_lines(exp)
            assert 'msg="storage file unreadable: moved aside, starting from empty"' in line
            assert _restored(exp) == 0
            [aside] = [p for p in books.iterdir() if p.name.startswith("books.sqlite.corrupt-")]
            assert aside.read_bytes() == truncated
            assert exp.scrape([WRITABLE]).value(WRITABLE) == 1  # a new file, from empty
            assert exp.stop() == 0
    assert _rows(file) > 0


@pytest.mark.parametrize(
    ("what", "line"),
    [
        # the file (chattr +i): it opens read-only, restores, and writes nothing
        ("file", 'msg="storage failed".* err="write: attempt to write a readonly database"'),
        # the directory (chattr +i): SQLite cannot make its -wal and -shm files beside it
        ("directory", 'unusable, running without it.* err="cannot read the file: unable to'),
        # the filesystem (a tmpfs remounted read-only): not even the lock file opens
        ("filesystem", 'err="cannot use the directory: Read-only file system"'),
    ],
    ids=["file", "directory", "filesystem"],
)
def test_read_only_storage_costs_no_monitoring(tmp_path: Path, what: str, line: str) -> None:
    """Read-only as root: a file's mode stops nothing, so chattr +i or a read-only mount.
    One log line, every campaign on /metrics, storage_writable 0, nothing changed."""
    with contextlib.ExitStack() as stack, _ten_campaigns() as sim:
        path = _config(tmp_path, sim.url)
        books = tmp_path / "books"
        if what == "filesystem":
            stack.enter_context(_tmpfs(books, "8m"))
        served = _whole_round(path, books)
        stored = _rows(books / "books.sqlite")
        if what == "filesystem":
            subprocess.run(["mount", "-o", "remount,ro", str(books)], check=True)
        else:
            stack.enter_context(_immutable(books / "books.sqlite" if what == "file" else books))
        before = _contents(books)
        with ExporterProcess(f"--config.file={path}", f"--storage.path={books}") as exp:
            # 0 from the first scrape: a read-only file is found out at open, not by a write
            assert exp.scrape([WRITABLE]).value(WRITABLE) == 0
            _monitors_all_the_same(exp, served)
            assert exp.scrape([WRITABLE]).value(WRITABLE) == 0
            [said] = _storage_lines(exp)
            assert re.search(line, said), said
            assert _restored(exp) == (stored if what == "file" else 0)
            assert exp.stop() == 0
        _assert_unchanged(books, before)


def test_a_full_disk_at_start_runs_without_storage_and_moves_nothing(tmp_path: Path) -> None:
    """The disk filled while the exporter was down: its file is sound, and stays as it
    is (not moved aside as if corrupt); the exporter runs without it."""
    with _ten_campaigns() as sim, _tmpfs(tmp_path / "books", "8m") as books:
        path = _config(tmp_path, sim.url)
        served = _whole_round(path, books)
        _fill(books)
        before = _contents(books)
        with ExporterProcess(f"--config.file={path}", f"--storage.path={books}") as exp:
            _monitors_all_the_same(exp, served)
            assert exp.scrape([WRITABLE]).value(WRITABLE) == 0
            [said] = _storage_lines(exp)
            assert 'msg="storage unusable, running without it"' in said
            assert exp.stop() == 0
        _assert_unchanged(books, before)


def test_a_disk_filling_up_while_running_costs_writes_only(tmp_path: Path) -> None:
    """The disk fills with the exporter writing: one log line, storage_writable 0 and
    failed writes counted while every campaign stays on /metrics; space freed, it writes
    again and says so."""
    with _ten_campaigns() as sim, _tmpfs(tmp_path / "books", "8m") as books:
        path = write_config(
            tmp_path,
            {"sources": [experiture_source(sim.url, poll_interval="1s"), ga_source(sim.url)]},
        )
        with ExporterProcess(f"--config.file={path}", f"--storage.path={books}") as exp:
            since = time.time()
            file = books / "books.sqlite"
            wait_for_sync(functools.partial(_written, file, since), "a write to the books")
            assert exp.scrape([WRITABLE]).value(WRITABLE) == 1
            filler = _fill(books)
            wait_for_sync(lambda: exp.scrape([WRITABLE]).value(WRITABLE) == 0, "storage_writable 0")
            _round_done(exp)
            assert len(_kept(exp)[STATE]) >= 10 * 6 // 2
            [said] = _storage_lines(exp)
            assert 'msg="storage failed"' in said
            assert 'err="write: database or disk is full"' in said
            wait_for_sync(lambda: exp.scrape([ERRORS]).number(ERRORS) >= 2, "two failed writes")
            assert len(_storage_lines(exp)) == 1  # each kind of failure said once
            filler.unlink()
            wait_for_sync(
                lambda: exp.scrape([WRITABLE]).value(WRITABLE) == 1, "storage_writable 1 again"
            )
            assert 'msg="storage writable again"' in _storage_lines(exp)[1]
            assert exp.proc.poll() is None
            assert "Traceback" not in "".join(exp.lines)
            assert exp.stop() == 0


def test_a_file_of_no_schema_migrates(tmp_path: Path) -> None:
    """Version 0 is a database with no table of ours (as ``sqlite3 books.sqlite`` leaves
    it). It is migrated in place to the current version, not moved aside, and written to."""
    books = tmp_path / "books"
    books.mkdir()
    old = sqlite3.connect(books / "books.sqlite")
    old.execute("CREATE TABLE unrelated (x)")  # a file with a page or two, journal=delete
    old.commit()
    old.close()
    with _ten_campaigns() as sim:
        path = _config(tmp_path, sim.url)
        with ExporterProcess(f"--config.file={path}", f"--storage.path={books}") as exp:
            _round_done(exp)
            assert exp.scrape([WRITABLE]).value(WRITABLE) == 1
            assert _storage_lines(exp) == []
            assert exp.stop() == 0
    assert sorted(p.name for p in books.iterdir()) == ["books.sqlite", "books.sqlite.lock"]
    db = sqlite3.connect(books / "books.sqlite")
    assert db.execute("PRAGMA user_version").fetchone()[0] == 2
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT count(*) FROM campaigns").fetchone()[0] > 0
    assert db.execute("SELECT count(*) FROM unrelated").fetchone()[0] == 0


# Version 1 as it was released: the campaigns table alone.
SCHEMA_1 = (
    "CREATE TABLE campaigns ("
    " source TEXT NOT NULL, campaign_id TEXT NOT NULL, version TEXT,"
    " snapshot TEXT NOT NULL, updated_at REAL NOT NULL, state TEXT,"
    " state_since REAL NOT NULL, first_seen REAL NOT NULL, finished_at REAL,"
    " PRIMARY KEY (source, campaign_id)) WITHOUT ROWID"
)


def test_a_version_1_file_migrates_keeping_its_books(tmp_path: Path) -> None:
    """A file of the first release (no learned paces) is migrated in place: its books are
    on /metrics at once, and the paces table is added, empty until something is learned."""
    books = tmp_path / "books"
    path, before = _one_round(tmp_path, books, 10)
    db = sqlite3.connect(books / "books.sqlite")
    rows = db.execute("SELECT * FROM campaigns ORDER BY source, campaign_id").fetchall()
    db.close()
    (books / "books.sqlite").unlink()
    old = sqlite3.connect(books / "books.sqlite")
    old.execute(SCHEMA_1)
    old.executemany("INSERT INTO campaigns VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    old.execute("PRAGMA user_version=1")
    old.commit()
    old.close()
    with ExporterProcess(f"--config.file={path}", f"--storage.path={books}") as second:
        # the vendor is gone (the simulator stopped): what shows comes from the file
        wait_for_sync(lambda: _kept(second) == before, "the version-1 books on /metrics")
        assert second.scrape([WRITABLE]).value(WRITABLE) == 1
        assert _storage_lines(second) == []
        assert second.stop() == 0
    db = sqlite3.connect(books / "books.sqlite")
    assert db.execute("PRAGMA user_version").fetchone()[0] == 2
    assert db.execute("SELECT count(*) FROM paces").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM campaigns").fetchone()[0] == len(rows)


READS = "campaign_exporter_source_reads_total"
SKIPPED = "campaign_exporter_campaigns_skipped_total"
UNREAD = "campaign_exporter_source_campaigns_unread"


def test_retired_campaigns_stay_retired_across_a_restart(tmp_path: Path) -> None:
    """A long-used account: most campaigns finished long before the retention window. The
    first run reads each once and retires it; the next run on the same books knows them
    retired and reads none of them again (nor any other campaign it never read)."""
    books = tmp_path / "books"
    settings = SimulatorSettings(
        experiture_campaigns=120, greenarrow_campaigns=0, speed=0, preset="long-used"
    )
    names = [READS, SKIPPED, UNREAD, "campaign_exporter_source_refreshes_total"]

    def settled(exporter: ExporterProcess, walks: int) -> Samples:
        """Once ``walks`` listing walks are done and every listed campaign was read."""

        def check() -> Samples | None:
            found = exporter.scrape(names)
            done = sum(v for _, v in found.values("campaign_exporter_source_refreshes_total"))
            return found if done >= walks and found.value(UNREAD, source="prod") == 0 else None

        found: Samples = wait_for_sync(check, f"{walks} walks and every campaign read")
        return found

    with SimulatorThread(settings) as sim:
        config = {"sources": [experiture_source(sim.url, poll_interval="2s")]}
        path = write_config(tmp_path, config)
        with ExporterProcess(f"--config.file={path}", f"--storage.path={books}") as first:
            settled(first, 1)
            found = settled(first, 3)  # a walk after the reads: the retired are skipped
            retired = found.number(SKIPPED, source="prod", reason="retired")
            assert retired >= 30
            assert found.number(READS, source="prod", urgency="unread") >= 30
            assert first.stop() == 0
        with ExporterProcess(f"--config.file={path}", f"--storage.path={books}") as second:
            found = settled(second, 1)
            assert found.number(SKIPPED, source="prod", reason="retired") >= 30
            assert (found.value(READS, source="prod", urgency="unread") or 0) == 0
            assert second.stop() == 0
