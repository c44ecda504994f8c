"""Two ratios at 10k Experiture + 2k GreenArrow campaigns, measured in one run, and the
exporter's memory.

    .venv/bin/python bench/scrape.py --experiture 10000 --greenarrow 2000

The exporter runs as a child process against the simulator (frozen clock). Once it is
ready, /metrics is read with a plain socket client (so the client's own parsing does not
count) --rounds times, uncompressed and gzipped. The same scrape's samples are then
rendered in this process, each renderer timed --render-rounds times:

1. serving versus rendering per scrape: the exporter's scrape (cached bytes over HTTP)
   against prometheus_client's generate_latest on the same samples, which is what an
   exporter that renders on every scrape pays before it sends a byte;
2. rendering alone: our renderer (pre_render and assemble, what a refresh runs in a worker
   thread) against generate_latest, the same samples in the same process.

Last, one family asked for with name[] (gzip, as Prometheus asks): the first scrape builds
and caches the selection, the next ones serve it from the cache.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import time
from collections.abc import Callable, Iterable

from _common import experiture_source, exporter, greenarrow_source, rss_mib, wait_complete
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from exporter.exposition.render import Kind, MetricFamily, assemble, pre_render
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


def ours(families: list[Metric]) -> list[MetricFamily]:
    """The parsed samples as our renderer's families (a counter is named by its samples)."""
    out = []
    for metric in families:
        if not metric.samples or metric.type not in ("gauge", "counter"):
            continue
        kind: Kind = "counter" if metric.type == "counter" else "gauge"
        name = metric.samples[0].name if kind == "counter" else metric.name
        labels = tuple(metric.samples[0].labels)
        fam = MetricFamily(name, kind, metric.documentation, labels)
        for sample in metric.samples:
            if sample.name == name:
                fam.add(tuple(sample.labels[k] for k in labels), sample.value)
        out.append(fam)
    return out


def median_time(render: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        render()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def ready(port: int) -> None:
    end = time.monotonic() + 600
    while True:
        try:
            if raw_get(port, "/-/ready")[0].split(b" ", 2)[1] == b"200":
                return
        except OSError:
            pass
        if time.monotonic() > end:
            raise SystemExit("exporter never ready")
        time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--experiture", type=int, default=10_000)
    parser.add_argument("--greenarrow", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--render-rounds", type=int, default=5)
    args = parser.parse_args()
    settings = SimulatorSettings(
        experiture_campaigns=args.experiture, greenarrow_campaigns=args.greenarrow, speed=0
    )
    with (
        SimulatorThread(settings) as sim,
        exporter([experiture_source(sim.url), greenarrow_source(sim.url)]) as (proc, port),
    ):
        ready(port)
        wait_complete(port, 600)  # every campaign read: the whole body
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            whole = b"".join(iter(lambda: sock.recv(1 << 20), b""))
        text = whole.split(b"\r\n\r\n", 1)[1].decode()
        plain = timed(port, "", args.rounds)
        zipped = timed(port, "Accept-Encoding: gzip\r\n", args.rounds)
        selection = timed(port, "Accept-Encoding: gzip\r\n", args.rounds + 1, SELECTION)
        selection_size = raw_get(port, SELECTION)[1]
        rss = rss_mib(proc.pid)
    parsed = list(text_string_to_metric_families(text))
    registry = CollectorRegistry()
    registry.register(Replay(parsed))
    families = ours(parsed)
    theirs = median_time(lambda: generate_latest(registry), args.render_rounds)
    mine = median_time(lambda: assemble([pre_render(families)], False), args.render_rounds)
    samples = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
    p50, gz50 = statistics.median(plain), statistics.median(zipped)
    p95 = statistics.quantiles(plain, n=20)[18]
    print(
        f"campaigns={args.experiture}+{args.greenarrow} samples={samples} "
        f"body={len(text) / 1e6:.1f}MB exporter RSS={rss:.0f}MiB"
    )
    print(
        f"1. serving vs rendering per scrape: cached /metrics p50={p50 * 1e3:.1f}ms "
        f"(p95={p95 * 1e3:.1f}ms), gzip p50={gz50 * 1e3:.1f}ms; prometheus_client "
        f"generate_latest on the same samples p50={theirs * 1e3:.0f}ms: serving is "
        f"{theirs / p50:.0f}x faster plain, {theirs / gz50:.0f}x gzip"
    )
    print(
        f"2. rendering alone, same samples, this process: ours (pre_render + assemble) "
        f"p50={mine * 1e3:.0f}ms, generate_latest p50={theirs * 1e3:.0f}ms: ours is "
        f"{theirs / mine:.1f}x faster"
    )
    print(
        f"{SELECTION} ({selection_size / 1e6:.1f}MB plain), gzip: "
        f"first (builds the selection) {selection[0] * 1e3:.1f}ms, "
        f"then cached p50={statistics.median(selection[1:]) * 1e3:.1f}ms"
    )


if __name__ == "__main__":
    main()
