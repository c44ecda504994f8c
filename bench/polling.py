"""Upstream requests of state-aware polling against fixed-interval polling, same fleet.

    .venv/bin/python bench/polling.py --campaigns 2000 --minutes 3

Two identical simulators (same seed, real-time clock) and two exporter processes, one with
``polling.adaptive: false`` (every campaign every poll_interval), one with the default
state-aware plan. After both finished their first refresh the request counters are reset;
after --minutes the requests each simulator served are compared.
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.request
from typing import Any

from _common import experiture_source, exporter

from exporter.simulator import SimulatorSettings, SimulatorThread


def call(url: str, method: str = "GET") -> Any:
    req = urllib.request.Request(url, method=method)  # noqa: S310 - loopback
    with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - loopback
        return json.loads(resp.read())


def up(port: int) -> bool:
    try:
        req = f"http://127.0.0.1:{port}/metrics"
        with urllib.request.urlopen(req, timeout=30) as resp:
            return b'campaign_exporter_source_up{source="exp"} 1' in resp.read()
    except OSError:
        return False


def source(sim_url: str, adaptive: bool, interval: str) -> dict[str, Any]:
    return experiture_source(
        sim_url, poll_interval=interval, timeout=interval, polling={"adaptive": adaptive}
    )


def by_endpoint(stats: dict[str, Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for row in stats["requests"]:
        out[row["endpoint"]] = out.get(row["endpoint"], 0) + row["count"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--campaigns", type=int, default=2000)
    parser.add_argument("--minutes", type=float, default=3)
    parser.add_argument("--interval", default="5s")
    args = parser.parse_args()
    settings = SimulatorSettings(experiture_campaigns=args.campaigns, speed=1.0)
    with (
        SimulatorThread(settings) as fixed_sim,
        SimulatorThread(settings) as adaptive_sim,
        exporter([source(fixed_sim.url, False, args.interval)]) as (_, fixed_port),
        exporter([source(adaptive_sim.url, True, args.interval)]) as (_, adaptive_port),
    ):
        end = time.monotonic() + 300
        while not (up(fixed_port) and up(adaptive_port)):
            if time.monotonic() > end:
                raise SystemExit("exporters did not finish a first refresh")
            time.sleep(0.5)
        for sim in (fixed_sim, adaptive_sim):
            call(f"{sim.url}/_sim/stats/reset", "POST")
        time.sleep(args.minutes * 60)
        fixed_stats = call(f"{fixed_sim.url}/_sim/stats")
        adaptive_stats = call(f"{adaptive_sim.url}/_sim/stats")
    ratio = adaptive_stats["total"] / max(fixed_stats["total"], 1)
    print(f"campaigns={args.campaigns} poll_interval={args.interval} window={args.minutes:g}min")
    print(f"fixed-interval requests={fixed_stats['total']} {by_endpoint(fixed_stats)}")
    print(f"state-aware    requests={adaptive_stats['total']} {by_endpoint(adaptive_stats)}")
    print(f"state-aware / fixed = {100 * ratio:.1f}%")


if __name__ == "__main__":
    main()
