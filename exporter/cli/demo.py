"""``--demo``: the simulator and the exporter together, no account needed."""

from __future__ import annotations

import dataclasses
import logging
import sys
from typing import Any

import anyio

from ..config.loader import Config, parse_config
from ..run.app import RunOptions, run
from ..simulator import Simulator, SimulatorSettings

log = logging.getLogger("campaign_exporter.demo")


def demo_config(sim_url: str) -> Config:
    raw: dict[str, Any] = {
        "sources": [
            {
                "name": "demo-experiture",
                "type": "experiture",
                "base_url": f"{sim_url}/public/v1",
                "oauth2": {
                    "token_url": f"{sim_url}/oauth/token",
                    "client_id": "demo-client",
                    "client_secret": "demo-secret",
                },
                "poll_interval": "5s",
                "timeout": "5s",
                "summary_interval": "1m",
            },
            {
                "name": "demo-greenarrow",
                "type": "greenarrow",
                "base_url": sim_url,
                "basic_auth": {"username": "1", "password": "demo-ga-key"},
                "poll_interval": "10s",
            },
        ]
    }
    return parse_config(raw)


async def run_demo(options: RunOptions, campaigns: int, speed: float) -> None:
    """The exporter as ``options`` say (no config file: nothing to reload), on a
    simulated fleet of ``campaigns`` per API."""
    sim = Simulator(
        SimulatorSettings(
            experiture_campaigns=campaigns, greenarrow_campaigns=campaigns, speed=speed
        )
    )
    runner, sim_url = await sim.start()
    try:

        def announce(addresses: list[str]) -> None:
            if options.on_listening is not None:
                options.on_listening(addresses)
            port = addresses[0].rsplit(":", 1)[1]
            path = options.telemetry_path
            print(
                f"campaign-exporter demo: metrics at http://localhost:{port}{path} "
                f"(status page http://localhost:{port}/), simulator at {sim_url}; "
                f"{campaigns} campaigns, time runs {speed:g}x. Ctrl-C stops.",
                file=sys.stderr,
                flush=True,
            )

        demo = dataclasses.replace(options, config_file=None, on_listening=announce)
        await run(demo_config(sim_url), demo)
    finally:
        with anyio.CancelScope(shield=True):
            await runner.cleanup()
