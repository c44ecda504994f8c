"""/metrics latency of the cached exposition against prometheus_client rendering the same
samples, and the exporter's memory, at 10k Experiture + 2k GreenArrow campaigns.

    .venv/bin/python bench/scrape.py --experiture 10000 --greenarrow 2000

The exporter runs as a child process against the simulator (frozen clock). Once it is
ready, /metrics is read with a plain socket client (so the client's own parsing does not
count) --rounds times, uncompressed and gzipped. The same scrape's samples are then handed
to prometheus_client's generate_latest, timed in this process: the baseline. Last, one
family asked for with name[] (gzip, as Prometheus asks): the first scrape builds and caches
the selection, the next ones serve it from the cache.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import time
from collections.abc import Iterable

from _common import experiture_source, exporter, greenarrow_source, rss_mib
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from exporter.simulator import SimulatorSettings, SimulatorThread

BUFFER = bytearray(64 << 20)  # allocated once: zeroing 64 MB per request would be timed too


def raw_get(port: int, path: str, extra: str = "") -> tuple[bytes, int]:
    """One HTTP/1.1 GET over a fresh connection: its status line and its size in bytes."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n{extra}\r\n".encode()
        )
        view, n = memoryview(BUFFER), 0
        while k := sock.recv_into(view[n:]):
            n += k
    return bytes(view[: min(n, 64)]).split(b"\r\n", 1)[0], n


class Replay:
    """A collector that yields parsed families, for generate_latest."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


SELECTION = "/metrics?name[]=experiture_campaign_execution_state"


def timed(port: int, extra: str, rounds: int, path: str = "/metrics") -> list[float]:
    out = []
    for _ in range(rounds):
        start = time.perf_counter()
        raw_get(port, path, extra)
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--experiture", type=int, default=10_000)
    parser.add_argument("--greenarrow", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=60)
    args = parser.parse_args()
    settings = SimulatorSettings(
        experiture_campaigns=args.experiture, greenarrow_campaigns=args.greenarrow, speed=0
    )
    with (
        SimulatorThread(settings) as sim,
        exporter([experiture_source(sim.url), greenarrow_source(sim.url)]) as (proc, port),
    ):
        end = time.monotonic() + 600
        while True:
            try:
                if raw_get(port, "/-/ready")[0].split(b" ", 2)[1] == b"200":
                    break
            except OSError:
                pass
            if time.monotonic() > end:
                raise SystemExit("exporter never ready")
            time.sleep(0.5)
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            whole = b"".join(iter(lambda: sock.recv(1 << 20), b""))
        text = whole.split(b"\r\n\r\n", 1)[1].decode()
        plain = timed(port, "", args.rounds)
        zipped = timed(port, "Accept-Encoding: gzip\r\n", args.rounds)
        selection = timed(port, "Accept-Encoding: gzip\r\n", args.rounds + 1, SELECTION)
        selection_size = raw_get(port, SELECTION)[1]
        rss = rss_mib(proc.pid)
    registry = CollectorRegistry()
    registry.register(Replay(list(text_string_to_metric_families(text))))
    baseline = []
    for _ in range(5):
        start = time.perf_counter()
        generate_latest(registry)
        baseline.append(time.perf_counter() - start)
    samples = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
    p50, base = statistics.median(plain), statistics.median(baseline)
    q = statistics.quantiles
    print(
        f"campaigns={args.experiture}+{args.greenarrow} samples={samples} "
        f"body={len(text) / 1e6:.1f}MB"
    )
    print(
        f"/metrics plain p50={p50 * 1e3:.1f}ms p95={q(plain, n=20)[18] * 1e3:.1f}ms; "
        f"gzip p50={statistics.median(zipped) * 1e3:.1f}ms"
    )
    print(f"prometheus_client generate_latest, same samples: p50={base * 1e3:.0f}ms")
    print(f"cached /metrics is {base / p50:.0f}x faster; exporter RSS={rss:.0f}MiB")
    print(
        f"{SELECTION} ({selection_size / 1e6:.1f}MB plain), gzip: "
        f"first (builds the selection) {selection[0] * 1e3:.1f}ms, "
        f"then cached p50={statistics.median(selection[1:]) * 1e3:.1f}ms"
    )


if __name__ == "__main__":
    main()
