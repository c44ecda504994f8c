"""Soak: the exporter under upstream faults and many scrapers, for minutes.

    .venv/bin/python bench/soak.py --minutes 10

A simulator (both APIs, real-time clock by default) answers with about 20% faults of
every kind, the hostile answers included (gzip bombs, huge bodies, lone surrogates,
400-digit numbers, unsafe ids, redirects away...); the exporter runs as a child process;
20 concurrent scrapers read /metrics the whole time. Prints failed scrapes (must be 0)
and RSS growth from the end of a warm-up (every source refreshed, then a minute more) to
the end (must stay under 10%).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time

import aiohttp
from _common import experiture_source, exporter, greenarrow_source, rss_mib

from exporter.simulator import SimulatorSettings, SimulatorThread
from exporter.simulator.faults import FAULT_KINDS, Fault


async def series(url: str) -> int:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        text = await resp.text()
    return sum(1 for line in text.splitlines() if line and not line.startswith("#"))


async def scraper(url: str, until: float, stats: dict[str, int]) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        while time.monotonic() < until:
            try:
                async with http.get(url, headers={"Accept-Encoding": "gzip"}) as resp:
                    await resp.read()
                    stats["ok" if resp.status == 200 else "failed"] += 1
            except (aiohttp.ClientError, TimeoutError):
                stats["failed"] += 1


async def watch_rss(pid: int, until: float, samples: list[tuple[float, float]]) -> None:
    start = time.monotonic()
    while time.monotonic() < until:
        samples.append((time.monotonic() - start, rss_mib(pid)))
        await asyncio.sleep(5)


async def soak(base: str, pid: int, seconds: float, scrapers: int, warmup: float) -> None:
    """Scrape for ``warmup`` + ``seconds``; RSS growth is measured over the second part."""
    start_at = time.monotonic()
    until = start_at + warmup + seconds
    stats = {"ok": 0, "failed": 0}
    rss: list[tuple[float, float]] = []
    baseline: dict[str, float] = {}

    async def mark_baseline() -> None:
        await asyncio.sleep(warmup)
        baseline["rss"] = rss_mib(pid)
        baseline["series"] = await series(f"{base}/metrics")

    await asyncio.gather(
        watch_rss(pid, until, rss),
        mark_baseline(),
        *(scraper(f"{base}/metrics", until, stats) for _ in range(scrapers)),
    )
    series_end = await series(f"{base}/metrics")
    start, end = baseline["rss"], rss_mib(pid)
    peak = max(m for _, m in rss)
    print(
        f"duration={seconds:.0f}s (after {warmup:.0f}s warm-up) scrapers={scrapers} "
        f"scrapes={stats['ok'] + stats['failed']} failed={stats['failed']} "
        f"rss_after_warmup={start:.1f}MiB rss_end={end:.1f}MiB peak={peak:.1f}MiB "
        f"growth={100 * (end - start) / start:+.1f}% "
        f"series={baseline['series']:.0f}->{series_end}",
        flush=True,
    )


async def wait_ready(base: str) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(600):
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{base}/-/ready") as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.5)
    raise SystemExit("exporter never ready")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--scrapers", type=int, default=20)
    parser.add_argument("--fault-rate", type=float, default=0.2)
    parser.add_argument(
        "--kinds", nargs="+", default=list(FAULT_KINDS), help="fault kinds in the mix (all)"
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=60.0,
        help="seconds after the first complete refresh before RSS is measured",
    )
    parser.add_argument("--campaigns", type=int, default=500)
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="simulated time per real second (1: a steady fleet)",
    )
    args = parser.parse_args()

    settings = SimulatorSettings(
        experiture_campaigns=args.campaigns, greenarrow_campaigns=args.campaigns, speed=args.speed
    )
    thread = SimulatorThread(settings)
    # one rule per kind; together they hit about fault_rate of all requests
    share = args.fault_rate / len(args.kinds)
    for i, kind in enumerate(args.kinds):
        thread.sim.faults.add(
            Fault.from_json(
                {
                    "kind": kind,
                    "probability": share / (1 - share * i),
                    "delay": 0.2 if kind == "latency" else 3.0,
                    "retry_after": 0.5,
                    # a 2 GiB gzip bomb is 2 MB on the wire; a plain body is sent whole
                    "size": 64 * 1024**2 if kind == "huge_body" else 2 * 1024**3,
                }
            )
        )
    with thread as sim:
        sources = [  # the configuration the published figures were measured with
            experiture_source(
                sim.url, poll_interval="5s", summary_interval="30s", timeout="1s", concurrency=8
            ),
            greenarrow_source(
                sim.url,
                per_page=100,
                poll_interval="5s",
                timeout="1s",
                lookback="30d",
                retention="7d",
            ),
        ]
        with exporter(sources, log_level="error") as (proc, port):
            base = f"http://127.0.0.1:{port}"
            asyncio.run(wait_ready(base))
            asyncio.run(soak(base, proc.pid, args.minutes * 60, args.scrapers, args.warmup))
            total = sum(sim.sim.faults.injected.values())
            served = sum(sim.sim.stats.values())
            print(
                f"upstream requests={served} faults injected={total} "
                f"({100 * total / max(served, 1):.1f}%): {dict(sim.sim.faults.injected)}"
            )


if __name__ == "__main__":
    main()
