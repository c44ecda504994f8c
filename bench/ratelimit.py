"""A cold refresh under a rate budget: how close it runs to the bound the budget sets.

    .venv/bin/python bench/ratelimit.py --campaigns 10000 --rate 200 --latency 0.02

The simulator (frozen clock) answers every request after --latency seconds; the exporter
(a child process) has rate_limit.requests_per_second = --rate. The bound is
requests / rate; the figure is the first refresh's duration over that bound (1.0 is the
budget used perfectly). The simulator also reports the most requests it saw in any one
second, which must not exceed rate + burst.
"""

from __future__ import annotations

import argparse
import json
import re
import time
import urllib.request

from _common import experiture_source, exporter

from exporter.simulator import SimulatorSettings, SimulatorThread
from exporter.simulator.faults import Fault

BURST = 10


def metrics(port: int) -> str:
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=30) as resp:
        return str(resp.read().decode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--campaigns", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--latency", type=float, default=0.02)
    args = parser.parse_args()
    thread = SimulatorThread(SimulatorSettings(experiture_campaigns=args.campaigns, speed=0))
    thread.sim.faults.add(Fault(kind="latency", delay=args.latency))
    with thread as sim:
        limit = {"requests_per_second": args.rate, "burst": BURST}
        source = experiture_source(sim.url, rate_limit=limit)
        with exporter([source]) as (_, port):
            done = 'campaign_exporter_source_refreshes_total{source="exp",result="success"} 1'
            end = time.monotonic() + 3600
            while True:
                try:
                    text = metrics(port)
                    if done in text:
                        break
                except OSError:
                    pass
                if time.monotonic() > end:
                    raise SystemExit("no first refresh")
                time.sleep(1)
            with urllib.request.urlopen(f"{sim.url}/_sim/stats", timeout=30) as resp:  # noqa: S310
                stats = json.loads(resp.read())
    match = re.search(
        r'campaign_exporter_source_refresh_duration_seconds\{source="exp"\} (\S+)', text
    )
    assert match is not None
    duration = float(match.group(1))
    requests = stats["total"]
    bound = requests / args.rate
    print(
        f"campaigns={args.campaigns} requests={requests} rate_limit={args.rate:g}/s "
        f"burst={BURST} upstream_latency={args.latency * 1e3:.0f}ms"
    )
    print(
        f"cold refresh {duration:.1f}s; bound {bound:.1f}s; ratio {duration / bound:.3f}; "
        f"most requests in any second: {stats['max_per_second']}"
    )


if __name__ == "__main__":
    main()
