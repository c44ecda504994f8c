"""Hostile input from both sides, before and after: RSS growth with clients that send
``GET /metrics`` and never read, how long SIGTERM takes while such clients hang on, and
the peak RSS while the upstream answers the campaign list with a gzip bomb (2 MB on the
wire, 2 GiB inflated; served by this tree's simulator to both).

    .venv/bin/python bench/hostile.py

BEFORE is the code at commit 60f6e10 (checked out into a temporary git worktree, removed
at the end); AFTER is this working tree. Both run as the same ``campaign-exporter --demo``
command, told apart by PYTHONPATH. Each RSS row is a fresh process: RSS once it is ready
and has served three scrapes, then the highest RSS seen over a few seconds after every
client has its response under way (or its 503). The clients use default socket buffers, as
the adversarial pass did, so the kernel holds a few MB of each body and the rest is the
exporter's. SIGTERM is timed with five such clients connected.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml
from _common import COMMAND, experiture_source, free_port, peak_rss_mib, rss_mib

from exporter.simulator import SimulatorSettings, SimulatorThread
from exporter.simulator.faults import Fault

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "60f6e10"


@dataclass
class Demo:
    proc: subprocess.Popen[bytes]
    port: int

    def get(self, path: str) -> int:
        """Status of one request on a fresh connection, reading the whole answer."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=60) as sock:
            sock.sendall(
                f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode()
            )
            head = sock.recv(64)
            while sock.recv(1 << 20):
                pass
        return int(head.split(b" ", 2)[1])

    def wait_ready(self, log: Path, deadline: float = 300) -> None:
        end = time.monotonic() + deadline
        while True:
            with contextlib.suppress(OSError):
                if self.get("/-/ready") == 200:
                    return
            if self.proc.poll() is not None or time.monotonic() > end:
                raise SystemExit(f"the demo never became ready: {log.read_text()[-2000:]}")
            time.sleep(0.2)


@contextlib.contextmanager
def demo(tree: Path, campaigns: int) -> Iterator[Demo]:
    """``campaign-exporter --demo`` with the package from ``tree``."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "stderr.log"
        with log.open("wb") as stderr:
            proc = subprocess.Popen(
                [
                    COMMAND,
                    "--demo",
                    f"--demo.campaigns={campaigns}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--log.level=error",
                ],
                env={**os.environ, "PYTHONPATH": str(tree)},
                stderr=stderr,
            )
        try:
            running = Demo(proc, port)
            running.wait_ready(log)
            yield running
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def stalled(port: int, count: int) -> list[socket.socket]:
    """``count`` clients that ask for /metrics and never read."""
    socks = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: bench\r\n\r\n")
        socks.append(sock)
    return socks


def answered(socks: list[socket.socket], deadline: float = 60) -> dict[str, int]:
    """Wait until every client has the start of its answer; count them by status."""
    waiting, end = set(socks), time.monotonic() + deadline
    while waiting and time.monotonic() < end:
        readable, _, _ = select.select(list(waiting), [], [], 0.5)
        waiting -= set(readable)
    counts = {"unanswered": len(waiting)}
    for sock in set(socks) - waiting:
        status = sock.recv(12, socket.MSG_PEEK).split(b" ")[1].decode()
        counts[status] = counts.get(status, 0) + 1
    return {k: v for k, v in counts.items() if v}


def rss_growth(tree: Path, campaigns: int, clients: int, cap_mib: float) -> str:
    with demo(tree, campaigns) as running:
        for _ in range(3):
            running.get("/metrics")
        before = rss_mib(running.proc.pid)
        socks = stalled(running.port, clients)
        try:
            statuses = answered(socks)
            peak, end = before, time.monotonic() + 4
            while time.monotonic() < end and peak < before + cap_mib:
                peak = max(peak, rss_mib(running.proc.pid))
                time.sleep(0.1)
        finally:
            for sock in socks:
                sock.close()
    grown = f"{peak - before:+.0f} MiB" if peak < before + cap_mib else f">{cap_mib:.0f} MiB"
    seen = " ".join(f"{k}:{v}" for k, v in sorted(statuses.items()))
    return f"{grown} ({before:.0f} to {peak:.0f}; {seen})"


def sigterm_seconds(tree: Path, campaigns: int, clients: int, deadline: float) -> str:
    with demo(tree, campaigns) as running:
        socks = stalled(running.port, clients)
        try:
            answered(socks)
            started = time.monotonic()
            running.proc.send_signal(signal.SIGTERM)
            try:
                code = running.proc.wait(deadline)
            except subprocess.TimeoutExpired:
                return f">{deadline:.0f} s (killed)"
            return f"{time.monotonic() - started:.1f} s (exit {code})"
        finally:
            for sock in socks:
                sock.close()


def bomb_peak(tree: Path, sim_url: str, seconds: float, cap_mib: float) -> str:
    """Peak RSS of an exporter whose campaign list answers with the bomb, for ``seconds``
    (killed past ``cap_mib``)."""
    source = experiture_source(sim_url, poll_interval="2s", timeout="60s")
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.yml"
        config.write_text(yaml.safe_dump({"sources": [source]}))
        proc = subprocess.Popen(
            [
                COMMAND,
                f"--config.file={config}",
                f"--web.listen-address=127.0.0.1:{free_port()}",
                "--log.level=error",
            ],
            env={**os.environ, "PYTHONPATH": str(tree)},
            stderr=subprocess.DEVNULL,
        )
        try:
            end, peak = time.monotonic() + seconds, 0.0
            while time.monotonic() < end and proc.poll() is None and peak < cap_mib:
                peak = max(peak, peak_rss_mib(proc.pid))
                time.sleep(0.1)
            alive = "still serving" if proc.poll() is None else f"exited {proc.returncode}"
        finally:
            proc.kill()
            proc.wait()
    shown = f"{peak:.0f} MiB" if peak < cap_mib else f">{cap_mib:.0f} MiB (killed)"
    return f"{shown} peak over {seconds:.0f} s ({alive})"


@contextlib.contextmanager
def baseline_tree() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="hostile-serving-") as tmp:
        tree = Path(tmp) / "before"
        git = ["git", "-C", str(ROOT), "worktree"]
        subprocess.run(
            [*git, "add", "--detach", str(tree), BASELINE], check=True, capture_output=True
        )
        try:
            yield tree
        finally:
            subprocess.run([*git, "remove", "--force", str(tree)], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--campaigns", type=int, nargs="+", default=[5000, 10000])
    parser.add_argument("--clients", type=int, nargs="+", default=[60, 200])
    parser.add_argument("--sigterm-campaigns", type=int, default=5000)
    parser.add_argument("--sigterm-clients", type=int, default=5)
    parser.add_argument(
        "--rss-cap", type=float, default=6000, help="stop a row once RSS grew this many MiB"
    )
    parser.add_argument("--bomb-gib", type=float, default=2.0)
    parser.add_argument("--bomb-seconds", type=float, default=30.0)
    args = parser.parse_args()
    rows: list[tuple[str, str, str]] = []
    with baseline_tree() as before:
        for campaigns in args.campaigns:
            for clients in args.clients:
                what = f"RSS growth, {clients} non-reading clients, demo {campaigns}"
                old = rss_growth(before, campaigns, clients, args.rss_cap)
                new = rss_growth(ROOT, campaigns, clients, args.rss_cap)
                rows.append((what, old, new))
                print(f"{what}: before {old}; after {new}", flush=True)
        campaigns, clients = args.sigterm_campaigns, args.sigterm_clients
        what = f"SIGTERM to exit, {clients} non-reading clients, demo {campaigns}"
        old = sigterm_seconds(before, campaigns, clients, 180)
        new = sigterm_seconds(ROOT, campaigns, clients, 180)
        rows.append((what, old, new))
        print(f"{what}: before {old}; after {new}", flush=True)
        size = int(args.bomb_gib * 1024**3)
        thread = SimulatorThread(SimulatorSettings(experiture_campaigns=200, speed=0))
        bomb = Fault(kind="gzip_bomb", api="experiture", endpoint="list", size=size)
        thread.sim.faults.add(bomb)
        with thread as sim:
            what = f"peak RSS, campaign list a {args.bomb_gib:g} GiB gzip bomb"
            old = bomb_peak(before, sim.url, args.bomb_seconds, args.rss_cap)
            new = bomb_peak(ROOT, sim.url, args.bomb_seconds, args.rss_cap)
            rows.append((what, old, new))
            print(f"{what}: before {old}; after {new}", flush=True)
    table = [("what", f"BEFORE ({BASELINE})", "AFTER (this tree)"), *rows]
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    print()
    for row in table:
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
