"""Series lifecycle in this process: retention retires terminal campaigns, the cap counts what
it left out, a failing source shows its streak, and a reload adds a source without blanking
the other."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ..helpers import (
    config_of,
    experiture_source,
    exported,
    ga_source,
    running_exporter,
    running_simulator,
    write_config,
)


@pytest.mark.anyio
async def test_terminal_campaigns_retire_after_retention_and_are_not_polled() -> None:
    async with running_simulator(experiture_campaigns=300) as (sim, url):
        cutoff = time.time() - 86400
        truth = exported(sim.experiture.truth(sim.clock.now()))
        old = {
            c["campaign_id"]
            for c in truth
            if c["state"] in ("completed", "failed") and c["completed_at"] < cutoff - 60
        }
        assert old
        source = experiture_source(url, retention="1d", poll_interval="1m")
        async with running_exporter(config_of(source)) as exp:
            first = await exp.wait_refreshes("prod", 1)
            status_calls = sim.stats[("experiture", "status", 200)]
            second = await exp.poll("prod", 2)
            last_cutoff = exp.clock.time() - 86400  # the exporter's clock stepped two polls
        # finished between the cutoffs: retired or not by when the exporter read them
        near = {
            c["campaign_id"]
            for c in truth
            if c["state"] in ("completed", "failed")
            and cutoff - 60 <= c["completed_at"] < last_cutoff + 60
        }
    for samples in (first, second):
        assert not old & set(samples.by_campaign("experiture_campaign_info"))
    shown = set(second.by_campaign("experiture_campaign_info"))
    assert {c["campaign_id"] for c in truth} - old - near <= shown
    assert len(truth) - len(old) - len(near) <= len(shown) <= len(truth) - len(old)
    retired = second.value(
        "campaign_exporter_campaigns_skipped_total", source="prod", reason="retired"
    )
    assert retired is not None and retired >= 2 * len(old)
    polled_later = sim.stats[("experiture", "status", 200)] - status_calls
    assert polled_later <= 2 * (len(truth) - len(old)) + len(old)


@pytest.mark.anyio
async def test_max_campaigns_caps_series_and_counts_what_was_left_out() -> None:
    async with running_simulator(experiture_campaigns=300, greenarrow_campaigns=400) as (
        sim,
        url,
    ):
        discoverable = len(
            [
                c
                for c in sim.experiture.truth(sim.clock.now())
                if c["authoring_status"] == "published"
            ]
        )
        ga_truth = sim.greenarrow.truth(sim.clock.now())
        newest = {c["campaign_id"] for c in ga_truth[-100:]}
        config = config_of(
            experiture_source(url, max_campaigns=50),
            ga_source(url, max_campaigns=100, retention="365d"),
        )
        async with running_exporter(config) as exp:
            samples = await exp.wait_refreshes("prod", 1)
            samples = await exp.wait_refreshes("ga", 1)
    assert len(samples.by_campaign("experiture_campaign_info")) <= 50
    assert (
        samples.value(
            "campaign_exporter_campaigns_skipped_total", source="prod", reason="max_campaigns"
        )
        == discoverable - 50
    )
    assert set(samples.by_campaign("greenarrow_campaign_info")) == newest
    assert (
        samples.value(
            "campaign_exporter_campaigns_skipped_total", source="ga", reason="max_campaigns"
        )
        == len(ga_truth) - 100
    )


@pytest.mark.anyio
async def test_a_failing_source_shows_its_streak() -> None:
    async with running_simulator(experiture_campaigns=10) as (_sim, url):
        source = experiture_source(url, authorization={"credentials": "bad"}, poll_interval="50ms")
        async with running_exporter(config_of(source)) as exp:
            samples = await exp.wait_until(
                lambda s: (
                    (s.value("campaign_exporter_source_consecutive_failures", source="prod") or 0)
                    >= 2
                ),
                "two failures in a row",
                names=[
                    "campaign_exporter_source_consecutive_failures",
                    "campaign_exporter_source_up",
                ],
            )
    assert samples.value("campaign_exporter_source_up", source="prod") == 0


@pytest.mark.anyio
async def test_reload_adds_a_source_keeps_the_other_and_refuses_a_bad_file(
    tmp_path: Path,
) -> None:
    async with running_simulator(experiture_campaigns=80, greenarrow_campaigns=50) as (_s, url):
        path = tmp_path / "config.yml"
        prod = experiture_source(url, poll_interval="1h")
        write_config(path.parent, {"sources": [prod]})
        async with running_exporter(config_of(prod), config_file=path) as exp:
            before = await exp.wait_refreshes("prod", 1)
            campaigns = before.by_campaign("experiture_campaign_info")

            write_config(path.parent, {"sources": [prod, ga_source(url)]})
            async with exp.http.post(f"{exp.url}/-/reload") as resp:
                assert resp.status == 200
            after = await exp.scrape()
            # the unchanged source was neither restarted nor blanked
            assert after.by_campaign("experiture_campaign_info") == campaigns
            assert (
                after.value(
                    "campaign_exporter_source_refreshes_total", source="prod", result="success"
                )
                == 1
            )
            await exp.wait_refreshes("ga", 1)

            path.write_text("sources: [{name: broken")
            async with exp.http.post(f"{exp.url}/-/reload") as resp:
                assert resp.status == 500
                assert "YAML syntax error" in await resp.text()
            bad = await exp.scrape()
            assert bad.value("campaign_exporter_config_last_reload_successful") == 0
            assert bad.by_campaign("experiture_campaign_info") == campaigns
            assert bad.by_campaign("greenarrow_campaign_info")

            write_config(path.parent, {"sources": [prod]})
            async with exp.http.post(f"{exp.url}/-/reload") as resp:
                assert resp.status == 200
            good = await exp.scrape()
    assert good.value("campaign_exporter_config_last_reload_successful") == 1
    assert not good.by_campaign("greenarrow_campaign_info")
    assert good.value("campaign_exporter_source_up", source="ga") is None
