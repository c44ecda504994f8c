"""The README names every metric family the exporter in this process exports, against the
simulator's two vendors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ..helpers import Samples, config_of, experiture_source, running_exporter, running_simulator

ROOT = Path(__file__).parents[2]


@pytest.mark.anyio
async def test_every_metric_family_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    async with running_simulator(experiture_campaigns=60, greenarrow_campaigns=60) as (_s, url):
        ga = {
            "name": "ga",
            "type": "greenarrow",
            "base_url": url,
            "lookback": "90d",
            "basic_auth": {"username": "1", "password": "demo-ga-key"},
        }
        async with running_exporter(config_of(experiture_source(url), ga)) as exp:
            await exp.wait_refreshes("ga", 1)
            samples: Samples = await exp.wait_refreshes("prod", 1)
    families = {re.sub(r"_(total|created)$", "", name) for name in samples.by_name}
    ours = {f for f in families if not f.startswith(("process_", "python_"))}
    missing = {f for f in ours if f not in readme and f + "_total" not in readme}
    assert not missing
