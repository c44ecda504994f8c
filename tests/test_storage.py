"""The books kept on disk (--storage.path): a restart serves what the last run knew at once,
bad storage never costs monitoring, and a kill during a write loses at most that write."""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import random
import signal
import sqlite3
import time
import urllib.request
from pathlib import Path
from typing import Any

from exporter.simulator import SimulatorSettings, SimulatorThread
from exporter.sources.experiture.model import ExecutionStatus, ListedCampaign, Schedule
from exporter.sources.experiture.records import CampaignRecord
from exporter.sources.experiture.source import ExperitureSource
from exporter.sources.greenarrow.model import GACampaignSnapshot
from exporter.sources.greenarrow.source import GreenArrowSource
from exporter.storage import decode, encode
from tests.helpers import (
    ExporterProcess,
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
START = "campaign_exporter_start_timestamp_seconds"
KEPT = (STATE, EXP_UPDATED, GA_FIRST, GA_SINCE, GA_UPDATED)


def test_a_snapshot_comes_back_as_it_was_stored() -> None:
    record = CampaignRecord(
        "c1",
        listing=ListedCampaign("c1", "Spring", "email", "published", "2026-11-30T10:00:00Z"),
        status=ExecutionStatus(
            "Spring",
            "published",
            "running",
            1_795_000_000.5,
            None,
            {"scheduled": 10, "sent": 7, "failed": 1},
            Schedule("batch_on_date", None, dt.date(2026, 12, 24), "Europe/Paris"),
        ),
        progress={"sent": 1_795_000_100.0},
    )
    stored = encode(record)
    assert stored["status"]["schedule"]["batch_date"] == "2026-12-24"
    assert stored["status"]["counts"] == {"scheduled": 10, "sent": 7, "failed": 1}
    assert decode(ExperitureSource.snapshot_type(), stored) == record
    snap = GACampaignSnapshot(
        "7", "Weekly", "failed", False, "1", "Org", "2", "List", {"messages": {"sent": 5}}, 1.5
    )
    assert decode(GreenArrowSource.snapshot_type(), encode(snap)) == snap


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
