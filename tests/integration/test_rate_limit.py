"""The per-source rate budget: never exceeded, 429 honoured, shared by every call."""

from __future__ import annotations

import pytest

from ..helpers import config_of, experiture_source, running_exporter, running_simulator

pytestmark = pytest.mark.anyio


async def test_budget_is_never_exceeded_so_the_vendor_never_says_429() -> None:
    # the simulated vendor allows 60/s with a little slack for arrival jitter
    async with running_simulator(experiture_campaigns=120, rate_limit=60.0, rate_burst=8) as (
        sim,
        url,
    ):
        source = experiture_source(
            url, rate_limit={"requests_per_second": 50, "burst": 5}, concurrency=16
        )
        async with running_exporter(config_of(source)) as exp:
            samples = await exp.wait_refreshes("prod", 1)
    total = sum(sim.stats.values())
    assert total > 200
    assert not [k for k in sim.stats if k[2] == 429]
    assert sim.max_per_second() <= 50 + 5
    assert samples.value("campaign_exporter_upstream_rate_limited_total", source="prod") == 0


async def test_429_is_counted_and_honoured_without_losing_data() -> None:
    """With no budget configured, the vendor's 429s pause the source, which still finishes."""
    async with running_simulator(experiture_campaigns=80, rate_limit=40.0, rate_burst=5) as (
        sim,
        url,
    ):
        source = experiture_source(url, concurrency=16)
        async with running_exporter(config_of(source)) as exp:
            samples = await exp.wait_refreshes("prod", 1)
    limited = samples.number("campaign_exporter_upstream_rate_limited_total", source="prod")
    assert limited == sum(n for k, n in sim.stats.items() if k[2] == 429) > 0
    assert samples.value("campaign_exporter_source_up", source="prod") == 1
