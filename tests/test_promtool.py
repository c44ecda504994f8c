"""`promtool check metrics` on a real scrape: the exposition follows Prometheus conventions."""

from __future__ import annotations

import subprocess

import pytest

from .helpers import (
    config_of,
    experiture_source,
    require_binary,
    running_exporter,
    running_simulator,
)

pytestmark = pytest.mark.anyio


async def test_promtool_check_metrics_is_clean_on_a_live_scrape() -> None:
    promtool = require_binary("promtool")
    async with running_simulator(experiture_campaigns=150) as (_sim, url):
        async with running_exporter(config_of(experiture_source(url))) as exp:
            samples = await exp.wait_refreshes("prod", 1)
    assert samples.values("experiture_campaign_pipeline_records")
    result = subprocess.run(
        [promtool, "check", "metrics"],
        input=samples.text,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "" and result.stderr.strip() == ""
