"""`promtool check metrics` on a real scrape: the exposition follows Prometheus conventions."""

from __future__ import annotations

import subprocess

import pytest

from ..helpers import live_scrape, require_binary

pytestmark = pytest.mark.anyio


async def test_promtool_check_metrics_is_clean_on_a_live_scrape() -> None:
    promtool = require_binary("promtool")
    samples = await live_scrape()
    assert samples.values("experiture_campaign_pipeline_records")
    assert samples.values("greenarrow_campaign_classified_bounces_total", **{"class": "hard"})
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
