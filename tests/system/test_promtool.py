"""`promtool check metrics` on a real scrape: the exposition follows Prometheus conventions."""

from __future__ import annotations

import subprocess

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ..helpers import (
    Samples,
    config_of,
    experiture_source,
    ga_source,
    require_binary,
    running_exporter,
    running_simulator,
)

pytestmark = pytest.mark.anyio


async def live_scrape() -> Samples:
    """Both source kinds, each after its first refresh."""
    async with running_simulator(experiture_campaigns=150, greenarrow_campaigns=150) as (_s, url):
        async with running_exporter(config_of(experiture_source(url), ga_source(url))) as exp:
            await exp.wait_refreshes("ga", 1)
            return await exp.wait_refreshes("prod", 1)


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


async def test_names_follow_the_naming_guide() -> None:
    """No label called ``type`` (it says nothing of what is typed) and no ``_by_`` in a
    family name (a breakdown is what labels are for): checks promtool does not make."""
    samples = await live_scrape()
    families = list(text_string_to_metric_families(samples.text))
    assert len(families) > 40
    by_in_name = [f.name for f in families if "_by_" in f.name]
    type_label = sorted({f.name for f in families for s in f.samples if "type" in s.labels})
    assert by_in_name == []
    assert type_label == []
