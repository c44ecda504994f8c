"""What the benchmarks share: the tests' helpers (one module for waiting, running the CLI
and starting the exporter), and the source configs the published figures were measured
with."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.helpers import (
    COMMAND,
    exporter_process,
    free_port,
    peak_rss_mib,
    rss_mib,
)

exporter = exporter_process
ROOT = Path(__file__).resolve().parent.parent  # the tree under test

__all__ = [
    "COMMAND",
    "ROOT",
    "checkout",
    "complete",
    "cpu_seconds",
    "experiture_source",
    "exporter",
    "free_port",
    "git",
    "greenarrow_source",
    "peak_rss_mib",
    "rss_mib",
    "sample_sums",
    "wait_complete",
]


def experiture_source(sim_url: str, **overrides: Any) -> dict[str, Any]:
    """An Experiture source against the simulator, polled hourly unless told otherwise."""
    return {
        "name": "exp",
        "type": "experiture",
        "base_url": f"{sim_url}/public/v1",
        "authorization": {"credentials": "demo-token"},
        "poll_interval": "1h",
        "concurrency": 16,
        **overrides,
    }


def greenarrow_source(sim_url: str, **overrides: Any) -> dict[str, Any]:
    """A GreenArrow source against the simulator: every campaign it has, kept."""
    return {
        "name": "ga",
        "type": "greenarrow",
        "base_url": sim_url,
        "lookback": "90d",
        "retention": "365d",
        "poll_interval": "1h",
        "basic_auth": {"username": "1", "password": "demo-ga-key"},
        **overrides,
    }


def sample_sums(text: str, name: str, by: str | None = None) -> dict[str, float]:
    """The samples of ``name`` summed by the label ``by`` (all under "" without one)."""
    sums: dict[str, float] = {}
    for line in text.splitlines():
        if not line.startswith((name + "{", name + " ")):
            continue
        head, _, value = line.rpartition(" ")
        key = head.split(f'{by}="', 1)[1].split('"', 1)[0] if by and f'{by}="' in head else ""
        sums[key] = sums.get(key, 0.0) + float(value)
    return sums


def complete(port: int, rounds: int = 1, sources: int = 2) -> bool:
    """Every one of ``sources`` sources has ended ``rounds`` rounds (or sweeps, in a tree
    from before reads by urgency), and, in a tree that says so, no campaign is unread and
    no read waits: the whole picture is on /metrics."""
    names = (
        "campaign_exporter_source_refreshes_total",
        "campaign_exporter_source_campaigns_unread",
        "campaign_exporter_source_reads_due",
    )
    query = "&".join(f"name[]={n}" for n in names)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics?{query}", timeout=30) as r:
            text = r.read().decode()
    except OSError:
        return False
    done = sample_sums(text, names[0], by="source")
    if len(done) < sources or min(done.values()) < rounds:
        return False
    unread, due = (sample_sums(text, name).get("", 0.0) for name in names[1:])
    return not unread and not due


def wait_complete(port: int, deadline: float, rounds: int = 1, sources: int = 2) -> float:
    """Seconds until ``complete``; exits the bench past ``deadline``."""
    start = time.monotonic()
    while not complete(port, rounds, sources):
        if time.monotonic() - start > deadline:
            raise SystemExit(f"the picture was not complete within {deadline:g} s")
        time.sleep(1.0)
    return time.monotonic() - start


def cpu_seconds(pid: int) -> float:
    """User and system CPU of a process so far (fields 14 and 15 of /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def git(*args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@contextlib.contextmanager
def checkout(rev: str) -> Iterator[Path]:
    """``rev`` in a temporary worktree, removed after (a baseline to run side by side)."""
    path = Path(tempfile.mkdtemp(prefix="bench-baseline-"))
    git("worktree", "add", "--detach", "--quiet", str(path), rev)
    try:
        yield path
    finally:
        git("worktree", "remove", "--force", str(path))
        shutil.rmtree(path, ignore_errors=True)
