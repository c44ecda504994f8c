"""The books' file in this process: a snapshot comes back as it was stored, and one read again
unchanged only moves its row's times."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path
from typing import Any

from exporter.books.records import decode, encode
from exporter.sources.experiture.model import ExecutionStatus, ListedCampaign, Schedule
from exporter.sources.experiture.records import CampaignRecord
from exporter.sources.experiture.source import ExperitureSource
from exporter.sources.greenarrow.model import GACampaignSnapshot
from exporter.sources.greenarrow.source import GreenArrowSource


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


def test_a_snapshot_read_again_unchanged_only_moves_its_times(tmp_path: Path) -> None:
    """The writer makes JSON only of what changed: an equal snapshot read again updates its
    row's read time and state in place, a different one replaces the row, and the file
    holds the latest of each after a restart."""
    from exporter.books.ledger import Entry
    from exporter.books.storage import Storage

    status = ExecutionStatus("Spring", "published", "running", None, None, None, None)
    books = Storage.open(tmp_path)
    books.submit("src", {"c1": (Entry("c1", status, 100.0, "running", 90.0, 80.0), "v1")})
    assert books.flush()

    def row() -> tuple[Any, ...]:
        db = sqlite3.connect(f"file:{tmp_path / 'books.sqlite'}?mode=ro", uri=True)
        try:
            found = db.execute(
                "SELECT version, snapshot, updated_at, state, state_since FROM campaigns"
            ).fetchall()
        finally:
            db.close()
        assert len(found) == 1
        return tuple(found[0])

    first = row()
    assert first[0::2] == ("v1", 100.0, 90.0) and first[3] == "running"
    again = ExecutionStatus("Spring", "published", "running", None, None, None, None)
    assert again == status and again is not status
    books.submit("src", {"c1": (Entry("c1", again, 130.0, "running", 90.0, 80.0), "v2")})
    assert books.flush()
    touched = row()
    assert touched[1] == first[1]
    assert (touched[0], touched[2], touched[3], touched[4]) == ("v2", 130.0, "running", 90.0)
    failed = ExecutionStatus("Spring", "published", "failed", None, None, None, None)
    books.submit("src", {"c1": (Entry("c1", failed, 160.0, "failed", 160.0, 80.0), "v2")})
    assert books.flush()
    replaced = row()
    assert replaced[1] != first[1] and json.loads(replaced[1])["snapshot"]["state"] == "failed"
    assert (replaced[2], replaced[3], replaced[4]) == (160.0, "failed", 160.0)
    books.close()
    reopened = Storage.open(tmp_path)
    [kept] = reopened.load("src", max_age=1e12)
    assert (kept.updated_at, kept.state, kept.snapshot["state"]) == (160.0, "failed", "failed")
    reopened.close()
