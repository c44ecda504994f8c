"""A first refresh against a vendor that rate-limits with a small burst, nothing configured.

    .venv/bin/python bench/vendor_pace.py --campaigns 300 --rate 40 --burst 5

The simulator limits each Experiture endpoint class (campaigns: list, summary, status;
analytics: metrics) to --rate requests per second with a burst of --burst, answering 429
with Retry-After: 1 beyond it. The exporter (a child process) has no rate_limit: it must
learn the pace from the 429s. Two runs: every class at --rate, then the same with
/metrics alone at --metrics-rate.

Figures per run: the first refresh's duration against the vendor-pace bound (for each
class, the answers it served over its rate; the largest), 429s as a share of the answers
served, campaigns missing from /metrics after that refresh, the pace of /status reads
from the first to the last (the throttled run's against the first's), and in the
throttled run the pace of /metrics reads against their --metrics-rate.
"""

from __future__ import annotations

import argparse
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from _common import experiture_source, exporter

from exporter.simulator import Simulator, SimulatorSettings, SimulatorThread

DONE = 'campaign_exporter_source_refreshes_total{source="exp",result="success"} 1'


@dataclass(frozen=True)
class Run:
    duration: float
    bound: float
    served: int
    limited: int
    missing: int
    status_reads: int
    status_span: float  # seconds from the first /status answer to the last
    metrics_reads: int
    metrics_span: float  # seconds from the first /metrics answer to the last

    @property
    def status_pace(self) -> float:
        return self.status_reads / self.status_span

    @property
    def metrics_pace(self) -> float:
        return (self.metrics_reads - 1) / self.metrics_span if self.metrics_span else 0.0


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as resp:
        return str(resp.read().decode())


def first_refresh(port: int, deadline: float) -> str:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            text = scrape(port)
        except OSError:
            text = ""
        if DONE in text:
            return text
        time.sleep(0.2)
    raise SystemExit(f"no successful first refresh within {deadline:g}s")


def sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise SystemExit(f"no sample {name}")


def exported_ids(text: str) -> set[str]:
    ids = set()
    for line in text.splitlines():
        if line.startswith("experiture_campaign_info{"):
            ids.add(line.split('campaign_id="', 1)[1].split('"', 1)[0])
    return ids


def truth_ids(sim: Simulator) -> set[str]:
    return {
        c["campaign_id"]
        for c in sim.experiture.truth(sim.clock.now())
        if c["authoring_status"] == "published" and c["campaign_type"] == "broadcast"
    }


def record_times(sim: Simulator, times: dict[str, list[float]]) -> None:
    """Note when each request of the endpoints in ``times`` is answered 200 (wrapping the
    simulator's responder)."""
    respond: Callable[..., Awaitable[Any]] = sim.respond

    async def recording(request: Any, vendor: Any, endpoint: str, read: Any) -> Any:
        resp = await respond(request, vendor, endpoint, read)
        if endpoint in times and resp.status == 200:
            times[endpoint].append(time.monotonic())
        return resp

    sim.respond = recording  # type: ignore[method-assign]


def run(campaigns: int, rate: float, burst: int, metrics_rate: float | None) -> Run:
    classes = {"analytics": metrics_rate} if metrics_rate else {}
    settings = SimulatorSettings(
        experiture_campaigns=campaigns,
        speed=0,
        rate_limit=rate,
        rate_burst=burst,
        class_rate_limits=classes,
    )
    times: dict[str, list[float]] = {"status": [], "metrics": []}
    with SimulatorThread(settings) as thread:
        sim = thread.sim
        record_times(sim, times)
        source = experiture_source(thread.url, concurrency=16)
        with exporter([source], log_level="error") as (_, port):
            text = first_refresh(port, deadline=600)
        stats = dict(sim.stats)
        wanted = truth_ids(sim)
    served = {k: n for k, n in stats.items() if k[0] == "experiture" and k[2] != 429}
    metrics = sum(n for k, n in served.items() if k[1] == "metrics")
    bound = max((sum(served.values()) - metrics) / rate, metrics / (metrics_rate or rate))
    return Run(
        duration=sample(text, 'campaign_exporter_source_refresh_duration_seconds{source="exp"}'),
        bound=bound,
        served=sum(served.values()),
        limited=sum(n for k, n in stats.items() if k[2] == 429),
        missing=len(wanted - exported_ids(text)),
        status_reads=len(times["status"]),
        status_span=times["status"][-1] - times["status"][0],
        metrics_reads=len(times["metrics"]),
        metrics_span=times["metrics"][-1] - times["metrics"][0] if times["metrics"] else 0.0,
    )


def report(label: str, r: Run) -> None:
    print(
        f"{label}: first refresh {r.duration:.1f}s, vendor-pace bound {r.bound:.1f}s, "
        f"ratio {r.duration / r.bound:.2f}; 429s {r.limited} for {r.served} served "
        f"({100 * r.limited / r.served:.1f}%); campaigns missing {r.missing}; "
        f"/status {r.status_pace:.1f}/s; /metrics {r.metrics_pace:.2f}/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--campaigns", type=int, default=300)
    parser.add_argument("--rate", type=float, default=40.0)
    parser.add_argument("--burst", type=int, default=5)
    parser.add_argument("--metrics-rate", type=float, default=1.0)
    args = parser.parse_args()
    print(
        f"{args.campaigns} campaigns; vendor {args.rate:g} requests/s per endpoint class, "
        f"burst {args.burst}; exporter concurrency 16, no rate_limit"
    )
    even = run(args.campaigns, args.rate, args.burst, None)
    report("every class at the same pace", even)
    slow = run(args.campaigns, args.rate, args.burst, args.metrics_rate)
    report(f"/metrics alone at {args.metrics_rate:g}/s", slow)
    print(f"/status pace kept: {100 * slow.status_pace / even.status_pace:.0f}%")
    print(f"/metrics budget used: {100 * slow.metrics_pace / args.metrics_rate:.0f}%")


if __name__ == "__main__":
    main()
