"""A hostile upstream, the exporter in this process: every attack the simulator's hostile kit
serves, one test each.

Each asserts the outcome an operator needs: the exporter stays up, /metrics answers 200
throughout with every campaign still on it, the other campaigns stay fresh, and the right
counter moves. The attacks that need a real process (memory, a process ending) are in
tests/system/test_hostile.py."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from exporter.simulator import Simulator
from exporter.simulator.faults import Fault

from ..helpers import (
    RunningExporter,
    Samples,
    config_of,
    experiture_source,
    running_exporter,
    running_simulator,
)
from ..hostile_upstream import COUNTED, REQUESTS, campaigns, errors, sources

pytestmark = pytest.mark.anyio

SKIPPED = "campaign_exporter_campaigns_skipped_total"
TOKEN = "demo-token"  # the simulator's static Experiture token
GA_KEY = "demo-ga-key"


def add(sim: Simulator, kind: str, api: str, endpoint: str = "*", **extra: Any) -> None:
    sim.faults.add(Fault.from_json({"kind": kind, "api": api, "endpoint": endpoint, **extra}))


async def settled(exp: RunningExporter) -> Samples:
    """A scrape once both sources have refreshed twice (the clock stepped to the second)."""
    await exp.poll("exp")
    return await exp.poll("ga")


async def after_more_refreshes(exp: RunningExporter, more: int = 3) -> Samples:
    """A scrape once both sources have refreshed ``more`` times since this call."""
    for source in ("exp", "ga"):
        await exp.next_refreshes(source, more)
    return await exp.scrape()


BAD_TEXT_CASES = [
    ("experiture", "status"),
    ("experiture", "summary"),
    ("greenarrow", "system_campaigns"),
]


@pytest.mark.parametrize(("api", "endpoint"), BAD_TEXT_CASES)
async def test_lone_surrogates_and_control_characters_are_replaced(api: str, endpoint: str) -> None:
    async with running_simulator(experiture_campaigns=12, greenarrow_campaigns=20) as (sim, url):
        async with running_exporter(config_of(*sources(url))) as exp:
            before = await settled(exp)
            add(sim, "bad_text", api, endpoint)
            during = await after_more_refreshes(exp)
            assert campaigns(during) == campaigns(before)
            assert "\ufffd" in during.text, "the hostile text reached /metrics, replaced"
            assert "\x1b" not in during.text and "\x00" not in during.text
            assert during.value("campaign_exporter_source_up", source="exp") == 1
            assert during.value("campaign_exporter_source_up", source="ga") == 1
            status, page = await exp.get("/")
            assert status == 200 and "\ufffd" in page


async def test_deep_json_is_one_campaigns_malformed_not_the_sources_failure() -> None:
    async with running_simulator(experiture_campaigns=12, greenarrow_campaigns=20) as (sim, url):
        async with running_exporter(config_of(*sources(url))) as exp:
            before = await settled(exp)
            add(sim, "deep_json", "experiture", "status", count=2)
            during = await exp.wait_until(
                lambda s: errors(s, "exp", "malformed") >= errors(before, "exp", "malformed") + 2,
                "malformed to count both deep bodies",
                names=COUNTED,
            )
            during = await after_more_refreshes(exp)
            assert during.value("campaign_exporter_source_up", source="exp") == 1
            assert campaigns(during) == campaigns(before)


@pytest.mark.parametrize(
    ("api", "endpoint"),
    [
        ("experiture", "status"),
        ("experiture", "metrics"),
        ("experiture", "list"),
        ("greenarrow", "system_campaigns"),
    ],
)
async def test_400_digit_numbers_keep_the_last_good_values(api: str, endpoint: str) -> None:
    async with running_simulator(experiture_campaigns=12, greenarrow_campaigns=20) as (sim, url):
        async with running_exporter(config_of(*sources(url))) as exp:
            before = await settled(exp)
            add(sim, "huge_numbers", api, endpoint)
            during = await after_more_refreshes(exp)
            assert campaigns(during) == campaigns(before)
            for fam in ("experiture_campaign_pipeline_records", "greenarrow_campaign_sent_total"):
                for labels, value in during.values(fam):
                    assert value < 2**53, (fam, labels)
            assert during.value("campaign_exporter_source_up", source="exp") == 1
            assert during.value("campaign_exporter_source_up", source="ga") == 1


async def test_400_digit_expires_in_is_clamped() -> None:
    async with running_simulator(experiture_campaigns=8) as (sim, url):
        oauth = {
            "token_url": f"{url}/oauth/token",
            "client_id": "demo-client",
            "client_secret": "demo-secret",
        }
        exp_source = experiture_source(
            url, name="exp", poll_interval="100ms", authorization=None, oauth2=oauth
        )
        add(sim, "huge_numbers", "experiture", "token")
        async with running_exporter(config_of({k: v for k, v in exp_source.items() if v})) as exp:
            samples = await exp.wait_refreshes("exp", 3)
            assert samples.value("campaign_exporter_source_up", source="exp") == 1


async def test_a_page_larger_than_asked_for_is_read_only_as_far_as_asked() -> None:
    async with running_simulator(experiture_campaigns=30, greenarrow_campaigns=40) as (sim, url):
        async with running_exporter(config_of(*sources(url))) as exp:
            before = await settled(exp)
            add(sim, "oversized_page", "experiture", "list")
            add(sim, "oversized_page", "greenarrow", "system_campaigns")
            during = await after_more_refreshes(exp)
            assert campaigns(during) == campaigns(before)
            for source in ("exp", "ga"):
                assert errors(during, source, "malformed") > errors(before, source, "malformed")


async def test_a_claimed_total_is_checked_before_it_is_counted() -> None:
    async with running_simulator(experiture_campaigns=30, greenarrow_campaigns=40) as (sim, url):
        capped = {"max_campaigns": 10, "discovery": {"page_size": 5}}
        exp_source, ga = sources(url, **capped)
        ga.update(max_campaigns=20)
        async with running_exporter(config_of(exp_source, ga)) as exp:
            before = await settled(exp)
            add(sim, "bogus_total", "experiture", "list")
            add(sim, "bogus_total", "greenarrow", "system_campaigns")
            during = await after_more_refreshes(exp)
            for source in ("exp", "ga"):
                grew = (during.value(SKIPPED, source=source, reason="max_campaigns") or 0) - (
                    before.value(SKIPPED, source=source, reason="max_campaigns") or 0
                )
                refreshes = exp.refreshes(source)
                assert 0 < grew <= 40 * refreshes, (source, grew)
            assert campaigns(during) == (10, 20)


async def test_unsafe_ids_are_refused_and_counted_never_requested() -> None:
    async with running_simulator(experiture_campaigns=12, greenarrow_campaigns=20) as (sim, url):
        async with running_exporter(config_of(*sources(url))) as exp:
            before = await settled(exp)
            add(sim, "bad_ids", "experiture", "list")
            add(sim, "bad_ids", "greenarrow", "system_campaigns")
            during = await after_more_refreshes(exp)
            for source in ("exp", "ga"):
                assert (during.value(SKIPPED, source=source, reason="invalid_id") or 0) > 0
            assert campaigns(during) == campaigns(before)
            # ".." or a cut id would have been requested, and answered 404
            assert not during.values(REQUESTS, source="exp", code="404")
            ids = [labels["campaign_id"] for labels, _ in during.values("greenarrow_campaign_info")]
            assert all(len(i) <= 200 for i in ids)


@pytest.mark.parametrize("kind", ["redirect_away", "redirect_port"], ids=["host", "port"])
async def test_a_redirect_to_another_origin_is_not_followed(kind: str) -> None:
    """Another host, or the same host on another port: both are another origin."""
    async with running_simulator(experiture_campaigns=12, greenarrow_campaigns=20) as (sim, url):
        async with running_exporter(config_of(*sources(url))) as exp:
            before = await settled(exp)
            add(sim, kind, "experiture", "list")
            add(sim, kind, "greenarrow", "system_campaigns")
            during = await exp.wait_until(
                lambda s: all(errors(s, src, "redirect") >= 2 for src in ("exp", "ga")),
                "both redirects counted",
                names=COUNTED,
            )
            assert campaigns(during) == campaigns(before)
            assert during.values(REQUESTS, source="exp", endpoint="list", code="302")


async def test_an_error_message_echoing_the_credential_is_scrubbed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("DEBUG")
    basic = base64.b64encode(f"1:{GA_KEY}".encode()).decode()
    async with running_simulator(experiture_campaigns=12, greenarrow_campaigns=20) as (sim, url):
        async with running_exporter(config_of(*sources(url))) as exp:
            await settled(exp)
            add(sim, "echo_credentials", "experiture", "list")
            add(sim, "echo_credentials", "greenarrow", "system_campaigns")
            during = await exp.wait_until(
                lambda s: all(errors(s, src, "http_4xx") >= 1 for src in ("exp", "ga")),
                "both refusals counted",
                names=COUNTED,
            )
            await after_more_refreshes(exp, 1)
            _, page = await exp.get("/")
    assert "&lt;secret&gt;" in page, "the echoed message is on the page, scrubbed"
    logged = "\n".join(f"{r.getMessage()} {getattr(r, 'kv', '')}" for r in caplog.records)
    assert "<secret>" in logged
    for secret in (TOKEN, GA_KEY, basic):
        assert secret not in page
        assert secret not in logged
        assert secret not in during.text
