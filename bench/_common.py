"""What the benchmarks share: the tests' helpers (one module for waiting, running the CLI
and starting the exporter), and the source configs the published figures were measured
with."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.helpers import (
    COMMAND,
    exporter_process,
    free_port,
    peak_rss_mib,
    rss_mib,
)

exporter = exporter_process

__all__ = [
    "COMMAND",
    "experiture_source",
    "exporter",
    "free_port",
    "greenarrow_source",
    "peak_rss_mib",
    "rss_mib",
]


def experiture_source(sim_url: str, **overrides: Any) -> dict[str, Any]:
    """An Experiture source against the simulator, polled hourly unless told otherwise."""
    return {
        "name": "exp",
        "type": "experiture",
        "base_url": f"{sim_url}/public/v1",
        "authorization": {"credentials": "demo-token"},
        "poll_interval": "1h",
        "concurrency": 16,
        **overrides,
    }


def greenarrow_source(sim_url: str, **overrides: Any) -> dict[str, Any]:
    """A GreenArrow source against the simulator: every campaign it has, kept."""
    return {
        "name": "ga",
        "type": "greenarrow",
        "base_url": sim_url,
        "lookback": "90d",
        "retention": "365d",
        "poll_interval": "1h",
        "basic_auth": {"username": "1", "password": "demo-ga-key"},
        **overrides,
    }
