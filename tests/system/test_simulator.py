"""The simulator in a fresh interpreter: it starts and serves with the exporter's packages
blocked from loading."""

from __future__ import annotations

import subprocess
import sys


def test_simulator_serves_with_the_exporter_packages_blocked() -> None:
    """Imported in a fresh interpreter where the sources cannot load, it still starts and serves."""
    script = """
import asyncio, sys, urllib.request
for name in ("exporter.sources", "exporter.upstream", "exporter.run", "exporter.config"):
    sys.modules[name] = None
from exporter.simulator import Simulator, SimulatorSettings

async def main():
    sim = Simulator(SimulatorSettings(experiture_campaigns=3, greenarrow_campaigns=3))
    runner, url = await sim.start()
    try:
        def get():
            req = urllib.request.Request(
                url + "/public/v1/campaigns", headers={"Authorization": "Bearer demo-token"}
            )
            return urllib.request.urlopen(req, timeout=10).status
        print(await asyncio.to_thread(get))
    finally:
        await runner.cleanup()

asyncio.run(main())
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "200"
