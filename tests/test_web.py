"""The HTTP endpoints: formats, compression, readiness, landing page."""

from __future__ import annotations

import gzip

import aiohttp
import anyio
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_families

from exporter.simulator.faults import Fault

from .helpers import (
    Samples,
    config_of,
    experiture_source,
    running_exporter,
    running_simulator,
    wait_for,
)

pytestmark = pytest.mark.anyio


async def test_gzip_body_is_the_same_exposition() -> None:
    async with running_simulator(experiture_campaigns=40) as (_sim, url):
        async with running_exporter(config_of(experiture_source(url))) as exp:
            plain = await exp.wait_refreshes("prod", 1)
            async with aiohttp.ClientSession(auto_decompress=False) as raw:
                async with raw.get(
                    f"{exp.url}/metrics", headers={"Accept-Encoding": "gzip"}
                ) as resp:
                    assert resp.headers["Content-Encoding"] == "gzip"
                    body = await resp.read()
                async with raw.get(
                    f"{exp.url}/metrics", headers={"Accept-Encoding": "gzip;q=0"}
                ) as resp:
                    assert "Content-Encoding" not in resp.headers
    zipped = Samples(gzip.decompress(body).decode())
    name = "experiture_campaign_pipeline_records"
    assert zipped.values(name) == plain.values(name)
    assert zipped.value("campaign_exporter_source_up", source="prod") == 1


async def test_openmetrics_when_asked() -> None:
    async with running_simulator(experiture_campaigns=20) as (_sim, url):
        async with running_exporter(config_of(experiture_source(url))) as exp:
            await exp.wait_refreshes("prod", 1)
            accept = "application/openmetrics-text; version=1.0.0,text/plain;q=0.5"
            async with exp.http.get(f"{exp.url}/metrics", headers={"Accept": accept}) as resp:
                assert resp.headers["Content-Type"].startswith("application/openmetrics-text")
                text = await resp.text()
    assert text.endswith("# EOF\n")
    families = {f.name: f for f in om_families(text)}  # type: ignore[no-untyped-call]
    assert families["campaign_exporter_upstream_requests"].type == "counter"
    assert families["experiture_campaign_execution_state"].samples


async def test_ready_only_after_the_first_complete_refresh() -> None:
    async with running_simulator(experiture_campaigns=10) as (sim, url):
        sim.faults.add(Fault(kind="latency", endpoint="list", delay=1.0, count=1))
        async with running_exporter(config_of(experiture_source(url))) as exp:
            status, body = await exp.get("/-/ready")
            assert status == 503
            assert "prod" in body
            # /metrics answers while the refresh is still waiting on upstream
            assert await exp.refreshes("prod") == 0
            await exp.wait_refreshes("prod", 1)
            assert (await exp.get("/-/ready"))[0] == 200
            assert await exp.get("/-/healthy") == (200, "Healthy\n")


async def test_ready_means_the_data_is_already_on_metrics() -> None:
    async with running_simulator(experiture_campaigns=1500) as (sim, url):
        truth = sim.experiture.truth(sim.clock.now())
        want = sum(
            1
            for c in truth
            if c["authoring_status"] == "published" and c["campaign_type"] == "broadcast"
        )
        async with running_exporter(config_of(experiture_source(url))) as exp:

            async def ready() -> bool:
                return (await exp.get("/-/ready"))[0] == 200

            await wait_for(ready, "readiness")
            samples = await exp.scrape()
    assert len(samples.values("experiture_campaign_info")) == want


async def test_metrics_answer_while_upstream_hangs() -> None:
    async with running_simulator(experiture_campaigns=10) as (sim, url):
        sim.faults.add(Fault(kind="hang", endpoint="status"))
        source = experiture_source(url, timeout="3s")
        async with running_exporter(config_of(source)) as exp:
            for _ in range(5):
                samples = await exp.scrape()
                assert samples.value("campaign_exporter_build_info") == 1
                await anyio.sleep(0.05)
            assert await exp.refreshes("prod") == 0


async def test_status_page_shows_each_source_and_its_campaigns() -> None:
    async with running_simulator(experiture_campaigns=30) as (sim, url):
        truth = sim.experiture.truth(sim.clock.now())
        async with running_exporter(config_of(experiture_source(url))) as exp:
            await exp.wait_refreshes("prod", 1)
            status, page = await exp.get("/")
    assert status == 200
    assert '<a href="metrics">' in page and 'http-equiv="refresh"' in page
    assert '<a href="#source-prod">prod</a>' in page and '<span class="up">up</span>' in page
    running = next(
        c
        for c in truth
        if c["state"] == "running"
        and c["campaign_type"] == "broadcast"
        and c["authoring_status"] == "published"
    )
    row = page[page.index(f"<code>{running['campaign_id']}</code>") :]
    row = row[: row.index("</tr>")]
    assert running["name"] in row and '<span class="state active">running</span>' in row
    sent, scheduled = running["counts"]["sent"], running["counts"]["scheduled"]
    assert f"{sent:,} / {scheduled:,}" in row
    assert "<script" not in page and "http://" not in page.replace(exp.url, "")


async def test_reload_without_a_config_file_is_refused() -> None:
    async with running_simulator(experiture_campaigns=5) as (_sim, url):
        async with running_exporter(config_of(experiture_source(url))) as exp:
            async with exp.http.post(f"{exp.url}/-/reload") as resp:
                assert resp.status == 405
