"""Refresh time, scrape time and RSS of a real exporter process against the simulator.

    .venv/bin/python bench/refresh.py --campaigns 1000 5000

For each fleet size: a simulator (frozen clock) in this process, the exporter as a child
process; prints the first refresh's duration and request count, /metrics latency
(plain and gzip, p50/p95 over repeated scrapes) and the exporter's RSS.
"""

from __future__ import annotations

import argparse
import gzip
import re
import statistics
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml
from _common import COMMAND, rss_mib

from exporter.simulator import SimulatorSettings, SimulatorThread


def fetch(url: str, headers: dict[str, str] | None = None) -> bytes:
    req = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - loopback
    with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - loopback
        return bytes(resp.read())


def sample(text: str, name: str) -> float | None:
    match = re.search(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else None


def timed(url: str, headers: dict[str, str], rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        start = time.perf_counter()
        body = fetch(url, headers)
        out.append(time.perf_counter() - start)
        if headers.get("Accept-Encoding") == "gzip":
            gzip.decompress(body)
    return out


def bench(campaigns: int, concurrency: int, rounds: int) -> None:
    settings = SimulatorSettings(experiture_campaigns=campaigns, speed=0.0)
    with SimulatorThread(settings) as sim, tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.yml"
        config.write_text(
            yaml.safe_dump(
                {
                    "sources": [
                        {
                            "name": "bench",
                            "type": "experiture",
                            "base_url": f"{sim.url}/public/v1",
                            "authorization": {"credentials": "demo-token"},
                            "poll_interval": "1h",
                            "concurrency": concurrency,
                        }
                    ]
                }
            )
        )
        proc = subprocess.Popen(
            [COMMAND, f"--config.file={config}", "--web.listen-address=127.0.0.1:0"],
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stderr is not None
            port = None
            while port is None:
                line = proc.stderr.readline()
                if not line:
                    raise SystemExit("exporter exited")
                if m := re.search(r"msg=listening address=\S+:(\d+)", line):
                    port = m.group(1)
            base = f"http://127.0.0.1:{port}"
            while True:
                text = fetch(f"{base}/metrics").decode()
                if sample(text, "campaign_exporter_source_up") == 1:
                    break
                time.sleep(0.2)
            refresh = sample(text, "campaign_exporter_source_refresh_duration_seconds") or 0
            requests = sum(
                float(v)
                for v in re.findall(
                    r"^campaign_exporter_upstream_requests_total{[^}]*} (\S+)$", text, re.M
                )
            )
            series = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
            plain = timed(f"{base}/metrics", {}, rounds)
            zipped = timed(f"{base}/metrics", {"Accept-Encoding": "gzip"}, rounds)
            rss = rss_mib(proc.pid)
        finally:
            proc.terminate()
            proc.wait(10)
    q = statistics.quantiles
    print(
        f"campaigns={campaigns:>6} series={series:>7} refresh={refresh:7.2f}s "
        f"requests={requests:>6.0f} ({requests / refresh:6.0f} req/s) "
        f"scrape_p50={statistics.median(plain) * 1e3:6.1f}ms "
        f"p95={q(plain, n=20)[18] * 1e3:6.1f}ms "
        f"gzip_p50={statistics.median(zipped) * 1e3:6.1f}ms rss={rss:6.1f}MiB",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--campaigns", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    for n in args.campaigns:
        bench(n, args.concurrency, args.rounds)


if __name__ == "__main__":
    main()
