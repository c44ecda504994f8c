"""The HTTP endpoints: formats, compression, readiness, landing page."""

from __future__ import annotations

import contextlib
import gzip
from collections.abc import AsyncIterator

import aiohttp
import anyio
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_families

from exporter.exposition.render import MetricFamily, pre_render
from exporter.exposition.store import ExpositionStore
from exporter.http.server import make_app, serve
from exporter.simulator import Simulator
from exporter.simulator.faults import Fault
from exporter.telemetry import Telemetry

from ..helpers import (
    Samples,
    config_of,
    experiture_source,
    running_exporter,
    running_simulator,
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
            assert (await exp.get("/metrics"))[0] == 200
            assert exp.refreshes("prod") == 0
            await exp.wait_refreshes("prod", 1)
            assert (await exp.get("/-/ready"))[0] == 200
            assert await exp.get("/-/healthy") == (200, "Healthy\n")


async def test_ready_once_the_first_walk_is_published_without_waiting_for_every_read() -> None:
    """An unready exporter drops out of discovery and takes its alerts with it: ready
    comes with the first walk's result, and how much is read yet is a gauge."""
    async with running_simulator(experiture_campaigns=40) as (sim, url):
        sim.faults.add(Fault(kind="hang", endpoint="status"))
        source = experiture_source(url, timeout="3s")
        async with running_exporter(config_of(source)) as exp:
            await exp.wait_ready_only()
            unread = "campaign_exporter_source_campaigns_unread"
            samples = await exp.scrape(names=[unread, "experiture_campaign_info"])
            listed = sim.stats[("experiture", "list", 200)]
    assert listed >= 1
    assert samples.value(unread, source="prod") == 40 - unpublished_or_other(sim)
    assert not samples.values("experiture_campaign_info"), "no state read yet"


def unpublished_or_other(sim: Simulator) -> int:
    """Campaigns the listing leaves out: drafts (discovery asks for published ones)."""
    return sum(
        1 for c in sim.experiture.truth(sim.clock.now()) if c["authoring_status"] != "published"
    )


async def test_ready_two_poll_intervals_after_start_even_if_nothing_answers() -> None:
    async with running_simulator(experiture_campaigns=10) as (sim, url):
        sim.faults.add(Fault(kind="hang", endpoint="list"))
        source = experiture_source(url, poll_interval="1m", timeout="30s")
        async with running_exporter(config_of(source)) as exp:
            assert (await exp.get("/-/ready"))[0] == 503
            exp.clock.advance(110)  # real time passes too: a margin of 10 s
            assert (await exp.get("/-/ready"))[0] == 503
            exp.clock.advance(11)
            status, text = await exp.get("/-/ready")
    assert status == 200, text


async def test_metrics_answer_while_upstream_hangs() -> None:
    async with running_simulator(experiture_campaigns=10) as (sim, url):
        sim.faults.add(Fault(kind="hang", endpoint="status"))
        source = experiture_source(url, timeout="3s")
        async with running_exporter(config_of(source)) as exp:
            for _ in range(5):
                samples = await exp.scrape()
                assert samples.value("campaign_exporter_build_info") == 1
                await anyio.sleep(0.05)
            assert exp.refreshes("prod") == 0


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


def demo_families(source: str, campaigns: dict[str, tuple[str, float]]) -> list[MetricFamily]:
    """Three families of one source, for campaigns of id -> (state, sends)."""
    state = MetricFamily(
        "demo_campaign_state", "gauge", "State.", ("source", "campaign_id", "state")
    )
    sends = MetricFamily(
        "demo_campaign_sends_total", "counter", "Sends.", ("source", "campaign_id")
    )
    info = MetricFamily("demo_campaign_info", "gauge", "Info.", ("source", "campaign_id"))
    for cid, (current, sent) in campaigns.items():
        state.add((source, cid, current), 1.0)
        sends.add((source, cid), sent)
        info.add((source, cid), 1.0)
    return [state, sends, info]


@contextlib.asynccontextmanager
async def serving_store(store: ExpositionStore) -> AsyncIterator[str]:
    """The HTTP server alone on a loopback port, serving ``store``; yields its URL."""
    addresses: list[str] = []
    listening = anyio.Event()

    def on_listening(addrs: list[str]) -> None:
        addresses.extend(addrs)
        listening.set()

    async with anyio.create_task_group() as tg:
        telemetry = store.telemetry
        assert isinstance(telemetry, Telemetry)
        tg.start_soon(serve, make_app(store, telemetry), ("127.0.0.1:0",), None, on_listening)
        with anyio.fail_after(10):
            await listening.wait()
        yield f"http://{addresses[0]}"
        tg.cancel_scope.cancel()


SELECTION = (
    "name[]=demo_campaign_state&name[]=demo_campaign_sends_total"
    "&name[]=campaign_exporter_shard_info&name[]=no_such_family"
)
SELECTED_TEXT = """\
# HELP demo_campaign_state State.
# TYPE demo_campaign_state gauge
demo_campaign_state{source="a",campaign_id="1",state="running"} 1
demo_campaign_state{source="b",campaign_id="7",state="failed"} 1
# HELP demo_campaign_sends_total Sends.
# TYPE demo_campaign_sends_total counter
demo_campaign_sends_total{source="a",campaign_id="1"} 5
demo_campaign_sends_total{source="b",campaign_id="7"} 2
# HELP campaign_exporter_shard_info The share of campaigns this replica polls \
(--shard of --total-shards); value 1.
# TYPE campaign_exporter_shard_info gauge
campaign_exporter_shard_info{shard="0",total_shards="1"} 1
"""


async def test_name_selection_serves_only_those_families_in_every_format() -> None:
    store = ExpositionStore(Telemetry())
    store.publish("a", pre_render(demo_families("a", {"1": ("running", 5)})))
    store.publish("b", pre_render(demo_families("b", {"7": ("failed", 2)})))
    async with serving_store(store) as url, aiohttp.ClientSession(auto_decompress=False) as http:
        plain = {"Accept-Encoding": "identity"}
        async with http.get(f"{url}/metrics?{SELECTION}", headers=plain) as resp:
            assert await resp.text() == SELECTED_TEXT
        gzipped = {"Accept-Encoding": "gzip"}
        async with http.get(f"{url}/metrics?{SELECTION}", headers=gzipped) as resp:
            assert resp.headers["Content-Encoding"] == "gzip"
            assert gzip.decompress(await resp.read()).decode() == SELECTED_TEXT
        # a counter is also found by its OpenMetrics family name, without _total
        openmetrics = {**plain, "Accept": "application/openmetrics-text; version=1.0.0"}
        query = "name[]=demo_campaign_sends&name[]=campaign_exporter_config_last_reload_successful"
        async with http.get(f"{url}/metrics?{query}", headers=openmetrics) as resp:
            assert await resp.text() == (
                "# HELP demo_campaign_sends Sends.\n"
                "# TYPE demo_campaign_sends counter\n"
                'demo_campaign_sends_total{source="a",campaign_id="1"} 5\n'
                'demo_campaign_sends_total{source="b",campaign_id="7"} 2\n'
                "# HELP campaign_exporter_config_last_reload_successful "
                "1 when the last config (re)load succeeded.\n"
                "# TYPE campaign_exporter_config_last_reload_successful gauge\n"
                "campaign_exporter_config_last_reload_successful 1\n"
                "# EOF\n"
            )
        async with http.get(f"{url}/metrics?name[]=no_such_family", headers=plain) as resp:
            assert resp.status == 200 and await resp.read() == b""


async def test_a_selection_is_cached_until_the_next_publish() -> None:
    store = ExpositionStore(Telemetry())
    store.publish("a", pre_render(demo_families("a", {"1": ("running", 5)})))
    names = frozenset({"demo_campaign_sends_total"})
    async with serving_store(store) as url, aiohttp.ClientSession() as http:
        async with http.get(f"{url}/metrics?name[]=demo_campaign_sends_total") as resp:
            assert 'campaign_id="1"} 5\n' in await resp.text()
        # (aiohttp asks for gzip: the gzipped selection is what was built)
        assert store.cached(False, True, names) is not None
        assert store.cached(False, False, names) is None, "plain waits for a plain scrape"
        store.publish("a", pre_render(demo_families("a", {"1": ("running", 9)})))
        assert store.cached(False, True, names) is None
        async with http.get(f"{url}/metrics?name[]=demo_campaign_sends_total") as resp:
            assert 'campaign_id="1"} 9\n' in await resp.text()


async def test_cached_selections_are_bounded_oldest_first() -> None:
    """A client asking for ever new selections cannot grow the cache without end."""
    store = ExpositionStore(Telemetry())
    store.publish("a", pre_render(demo_families("a", {"1": ("running", 5)})))
    selections = [frozenset({"demo_campaign_info", f"other_{i}"}) for i in range(20)]
    async with serving_store(store) as url, aiohttp.ClientSession() as http:
        for names in selections:
            query = "&".join(f"name[]={n}" for n in sorted(names))
            async with http.get(f"{url}/metrics?{query}") as resp:
                assert resp.status == 200
    cached = [store.cached(False, True, names) is not None for names in selections]
    assert cached == [False] * 4 + [True] * 16
    assert store.cached(False, True) is None, "the whole body waits for a scrape of it"
