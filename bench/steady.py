"""Steady state at 10k Experiture + 2k GreenArrow campaigns with nothing changing, against
a baseline commit: discovery's list pages per poll interval, CPU per upstream read, RSS,
and scrape speed.

    .venv/bin/python bench/steady.py --baseline 39813ca
    .venv/bin/python bench/steady.py --experiture 2000 --greenarrow 500 --baseline none
    .venv/bin/python bench/steady.py --window 80 --scrapes 4 --storage

``--storage``: this tree twice, the baseline column without ``--storage.path`` and this
tree's with it (the books in a temporary directory), adding bytes written per read (from
/proc) and the books' file size.

Each tree (the baseline, checked out with ``git worktree add``, then this one) runs the
same way: a simulator in this process (preset ``long-used``, seed 42, its clock frozen, so
nothing changes), the exporter a child process on ``PYTHONPATH=<tree>`` with the default
poll_interval (30 s) and concurrency and no rate limit (the warm-up is not what is
measured). Once the picture is complete (every source has ended two rounds or sweeps, and
a tree that has them shows no campaign unread and no read waiting) and one more poll
interval has passed (a whole gzip scrape at its start, as a Prometheus scraping all
along would have made), a window of --window seconds is measured with a Prometheus-like
scrape of the whole body (gzip) every 15 s: upstream reads by endpoint, list pages per
poll interval, and the exporter's CPU (from /proc) per upstream read, those scrapes and
every publication included. Then --scrapes whole-body scrapes a second apart (plain, then
gzip; publications land between them), p50 and max, and the exporter's RSS.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

from _common import (
    ROOT,
    checkout,
    cpu_seconds,
    experiture_source,
    exporter,
    git,
    greenarrow_source,
    rss_mib,
    sample_sums,
    wait_complete,
)

from exporter.simulator import SimulatorSettings, SimulatorThread

POLL = 30.0  # the default poll_interval
PROMETHEUS_EVERY = 15.0
WARMUP_LIMIT = 240.0  # the picture must be complete by then
REQUESTS = "campaign_exporter_upstream_requests_total"
INVOCATION_LIMIT = 590.0
SETUP_SECONDS = 30.0

Figures = dict[str, float | str]


def get(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as resp:
        return str(resp.read().decode())


def whole_scrape(port: int, gzip: bool) -> float:
    """Seconds to read the whole body over a fresh connection."""
    extra = "Accept-Encoding: gzip\r\n" if gzip else ""
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(
            f"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n{extra}\r\n".encode()
        )
        while sock.recv(1 << 20):
            pass
    return time.perf_counter() - start


def written_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    return 0


def run(tree: Path, args: argparse.Namespace, storage: Path | None = None) -> Figures:
    settings = SimulatorSettings(
        experiture_campaigns=args.experiture,
        greenarrow_campaigns=args.greenarrow,
        speed=0.0,
        preset="long-used",
    )
    with SimulatorThread(settings) as sim:
        sources = [
            experiture_source(sim.url, poll_interval=f"{POLL:g}s", concurrency=8),
            greenarrow_source(sim.url, poll_interval=f"{POLL:g}s"),
        ]
        env = {**os.environ, "PYTHONPATH": str(tree)}
        flags = [f"--storage.path={storage}"] if storage else []
        with exporter(sources, env=env, args=flags) as (proc, port):
            warmup = wait_complete(port, WARMUP_LIMIT, rounds=2)
            # scraped all along, as Prometheus would: the window starts with the whole
            # body's blocks gzipped once (a first scrape compresses all of it, ~0.1 s)
            whole_scrape(port, gzip=True)
            time.sleep(POLL)
            before = sample_sums(get(port, f"/metrics?name[]={REQUESTS}"), REQUESTS, "endpoint")
            cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
            written0 = written_bytes(proc.pid)
            while time.monotonic() - t0 < args.window:
                whole_scrape(port, gzip=True)
                time.sleep(min(PROMETHEUS_EVERY, max(0.0, args.window - (time.monotonic() - t0))))
            cpu, elapsed = cpu_seconds(proc.pid) - cpu0, time.monotonic() - t0
            written = written_bytes(proc.pid) - written0
            after = sample_sums(get(port, f"/metrics?name[]={REQUESTS}"), REQUESTS, "endpoint")
            reads = {e: after.get(e, 0.0) - before.get(e, 0.0) for e in after}
            total = sum(reads.values())
            plain, gz = [], []
            for _ in range(args.scrapes):
                plain.append(whole_scrape(port, gzip=False))
                time.sleep(0.5)
                gz.append(whole_scrape(port, gzip=True))
                time.sleep(0.5)
            figures: Figures = {
                "warm-up until complete (s)": warmup,
                "upstream reads in the window": total,
                "upstream reads per second": total / elapsed,
                "list pages per poll interval": reads.get("list", 0.0) / (elapsed / POLL),
                "CPU per upstream read (ms)": 1000 * cpu / total if total else "no reads",
                "CPU share of one core": cpu / elapsed,
                "scrape plain p50 (ms)": 1000 * statistics.median(plain),
                "scrape plain max (ms)": 1000 * max(plain),
                "scrape gzip p50 (ms)": 1000 * statistics.median(gz),
                "scrape gzip max (ms)": 1000 * max(gz),
                "RSS (MiB)": rss_mib(proc.pid),
                "bytes written per upstream read": written / total if total else "no reads",
            }
            if storage is not None:
                files = storage.glob("books.sqlite*")
                figures["books file size (MiB)"] = sum(f.stat().st_size for f in files) / 2**20
            for endpoint, n in sorted(reads.items()):
                figures[f"reads/s endpoint={endpoint}"] = n / elapsed
            return figures


def show(value: float | str | None) -> str:
    if value is None:
        return "n/a"
    return value if isinstance(value, str) else f"{value:.3g}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--experiture", type=int, default=10000)
    parser.add_argument("--greenarrow", type=int, default=2000)
    parser.add_argument("--window", type=float, default=120.0, help="seconds measured")
    parser.add_argument("--scrapes", type=int, default=10, help="of each kind, after")
    parser.add_argument("--baseline", default="HEAD~1", help='a git rev, or "none"')
    parser.add_argument(
        "--storage", action="store_true", help="baseline: this tree without --storage.path"
    )
    args = parser.parse_args()
    if args.storage:
        args.baseline = "none"
    baseline = None if args.baseline == "none" else git("rev-parse", "--verify", args.baseline)
    per_run = WARMUP_LIMIT / 2 + POLL + args.window + 2 * args.scrapes * 1.5 + SETUP_SECONDS
    if (2 if baseline or args.storage else 1) * per_run > INVOCATION_LIMIT:
        raise SystemExit("the runs could pass 10 minutes: a shorter --window, or --baseline none")
    dirty = git("status", "--porcelain", "--untracked-files=no")
    print(
        f"tree under test: {ROOT} at {git('rev-parse', '--short', 'HEAD')}"
        f"{' (uncommitted changes)' if dirty else ''}; baseline: "
        f"{baseline[:10] if baseline else 'none'} ({args.baseline})"
        f"{'; baseline: this tree without --storage.path' if args.storage else ''}\n"
        f"fleet: {args.experiture} Experiture (preset long-used) + {args.greenarrow} "
        f"GreenArrow campaigns, simulator clock frozen; poll_interval {POLL:g}s; window "
        f"{args.window:g}s with a whole gzip scrape every {PROMETHEUS_EVERY:g}s",
        flush=True,
    )
    old: Figures = {}
    if baseline:
        with checkout(baseline) as path:
            old = run(path, args)
    if args.storage:
        old = run(ROOT, args)
        with tempfile.TemporaryDirectory() as books:
            new = run(ROOT, args, storage=Path(books))
    else:
        new = run(ROOT, args)
    width = max(len(k) for k in [*new, *old])
    print(f"{'figure':<{width}} | {'baseline':>10} | {'this tree':>10} | ratio")
    for key in [*new, *(k for k in old if k not in new)]:
        a, b = old.get(key), new.get(key)
        ratio = f"{b / a:.2f}" if isinstance(a, float) and isinstance(b, float) and a else "-"
        print(f"{key:<{width}} | {show(a):>10} | {show(b):>10} | {ratio}")


if __name__ == "__main__":
    main()
