"""Logic that depends on time, on a manual clock, against the simulator over loopback: once
refused (403), the analytics are asked again only after summary_interval."""

from __future__ import annotations

from typing import Any

import pytest

from exporter.books.ledger import Ledger
from exporter.clock import ManualClock
from exporter.config.loader import parse_config
from exporter.exposition.store import ExpositionStore
from exporter.run.scheduler import Scheduler
from exporter.sources.experiture.config import ExperitureConfig
from exporter.telemetry import Telemetry
from exporter.upstream.client import UpstreamClient

from ..helpers import experiture_source, running_simulator

pytestmark = pytest.mark.anyio

MINUTE = 60.0


async def test_metrics_is_asked_again_only_after_summary_interval_once_refused() -> None:
    async with running_simulator(experiture_campaigns=20) as (sim, url):
        sim.experiture.static_tokens["narrow"] = frozenset({"campaigns:read"})
        source_cfg = experiture_source(
            url,
            authorization={"credentials": "narrow"},
            summary_interval="10m",
            poll_interval="1m",
            polling={"adaptive": False},
        )
        config = parse_config({"sources": [source_cfg]}).sources[0]
        assert isinstance(config, ExperitureConfig)
        clock = ManualClock(wall=sim.clock.now())
        client = UpstreamClient("prod", Telemetry(), timeout=5, concurrency=4)
        from exporter.sources.experiture.source import ExperitureSource

        source = ExperitureSource(config, client)
        ledger: Ledger[Any] = Ledger(source, clock=clock)
        telemetry = Telemetry()
        telemetry.register("prod", "experiture", config.poll_interval)
        scheduler = Scheduler(source, ledger, ExpositionStore(telemetry), telemetry, clock)
        try:
            asked = []
            for advance in (0, 60, 8 * MINUTE, 2 * MINUTE):
                clock.advance(advance)
                before = sim.stats[("experiture", "metrics", 403)]
                await scheduler.drain()
                asked.append(sim.stats[("experiture", "metrics", 403)] - before)
        finally:
            await client.aclose()
    # refused at first; not asked at +1m nor at +9m; asked again at +11m
    assert asked[0] >= 1 and asked[1] == 0 and asked[2] == 0 and asked[3] >= 1
    assert not source.analytics
