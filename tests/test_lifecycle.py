"""Series lifecycle (retention, cap), source backoff, and config reload without blanking."""

from __future__ import annotations

import signal
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.scheduler import MAX_BACKOFF, next_delay

from .helpers import (
    ExporterProcess,
    Samples,
    config_of,
    experiture_source,
    exported,
    ga_source,
    running_exporter,
    running_simulator,
    wait_for_sync,
)
from .hostile_yaml import billion_laughs, deep_nesting


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
    for samples in (first, second):
        assert not old & set(samples.by_campaign("experiture_campaign_info"))
    assert len(second.by_campaign("experiture_campaign_info")) == len(truth) - len(old)
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


def test_a_failing_source_backs_off() -> None:
    assert next_delay(30, 0) == 30
    assert next_delay(30, 1) == 30
    assert [next_delay(30, n) for n in (2, 3, 4)] == [60, 120, 240]
    assert next_delay(30, 50) == MAX_BACKOFF
    assert next_delay(600, 5) == 600  # an interval longer than the cap is kept


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


def write(path: Path, data: Any) -> None:
    path.write_text(yaml.safe_dump(data))


@pytest.mark.anyio
async def test_reload_adds_a_source_keeps_the_other_and_refuses_a_bad_file(
    tmp_path: Path,
) -> None:
    async with running_simulator(experiture_campaigns=80, greenarrow_campaigns=50) as (_s, url):
        path = tmp_path / "config.yml"
        prod = experiture_source(url, poll_interval="1h")
        write(path, {"sources": [prod]})
        async with running_exporter(config_of(prod), config_file=path) as exp:
            before = await exp.wait_refreshes("prod", 1)
            campaigns = before.by_campaign("experiture_campaign_info")

            write(path, {"sources": [prod, ga_source(url)]})
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

            write(path, {"sources": [prod]})
            async with exp.http.post(f"{exp.url}/-/reload") as resp:
                assert resp.status == 200
            good = await exp.scrape()
    assert good.value("campaign_exporter_config_last_reload_successful") == 1
    assert not good.by_campaign("greenarrow_campaign_info")
    assert good.value("campaign_exporter_source_up", source="ga") is None


def test_sighup_reloads_and_sigterm_stops_within_two_seconds(tmp_path: Path) -> None:
    from exporter.simulator import SimulatorSettings, SimulatorThread

    with SimulatorThread(SimulatorSettings(experiture_campaigns=20, speed=0)) as sim:
        path = tmp_path / "config.yml"
        write(path, {"sources": [experiture_source(sim.url, poll_interval="1h")]})
        with ExporterProcess(f"--config.file={path}") as exporter:
            exporter.wait_ready()
            write(
                path,
                {
                    "sources": [
                        experiture_source(sim.url, poll_interval="1h"),
                        experiture_source(sim.url, name="second"),
                    ]
                },
            )
            exporter.proc.send_signal(signal.SIGHUP)
            up = "campaign_exporter_source_up"
            wait_for_sync(
                lambda: exporter.scrape([up]).value(up, source="second") == 1,
                "SIGHUP to load the second source",
            )
            started = time.monotonic()
            assert exporter.stop(signal.SIGTERM) == 0
            assert time.monotonic() - started < 2.0


def post(url: str) -> tuple[int, str]:
    request = urllib.request.Request(url, method="POST")  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310 - loopback
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def reload_ok(exporter: ExporterProcess) -> float | None:
    name = "campaign_exporter_config_last_reload_successful"
    return exporter.scrape([name]).value(name)


def test_a_hostile_config_file_never_takes_the_process_down(tmp_path: Path) -> None:
    """SIGHUP with a file PyYAML recursed on used to exit 1; POST answered 500 and left
    the reload metric at 1. Both now keep the running config and say so once."""
    from exporter.simulator import SimulatorSettings, SimulatorThread

    with SimulatorThread(SimulatorSettings(experiture_campaigns=20, speed=0)) as sim:
        path = tmp_path / "config.yml"
        good = {"sources": [experiture_source(sim.url, poll_interval="1h")]}
        write(path, good)
        with ExporterProcess(f"--config.file={path}") as exporter:
            exporter.wait_ready()
            campaigns = Samples(exporter.get("/metrics")[1]).by_campaign("experiture_campaign_info")
            assert campaigns

            path.write_text(deep_nesting())
            exporter.proc.send_signal(signal.SIGHUP)

            def reported() -> bool:
                assert exporter.proc.poll() is None, "".join(exporter.lines)[-2000:]
                return any("config reload failed" in line for line in exporter.lines)

            wait_for_sync(reported, "SIGHUP to report the bad file")
            assert reload_ok(exporter) == 0

            write(path, good)
            assert post(f"{exporter.base}/-/reload")[0] == 200
            assert reload_ok(exporter) == 1
            # the SIGHUP reload is long over: every line it wrote is in
            failures = [line for line in exporter.lines if "config reload failed" in line]
            assert len(failures) == 1
            assert (
                f'file={path} err="line 1, column 73: nested deeper than 64 levels"'
                in (failures[0])
            )
            for text, problem in (
                (deep_nesting(), "line 1, column 73: nested deeper than 64 levels"),
                (billion_laughs(), "YAML aliases expand to more than 100000 values"),
            ):
                path.write_text(text)
                assert post(f"{exporter.base}/-/reload") == (
                    500,
                    f"failed to reload config: {path}: {problem}\n",
                )
                assert reload_ok(exporter) == 0
            samples = Samples(exporter.get("/metrics")[1])
            assert samples.by_campaign("experiture_campaign_info") == campaigns
            assert samples.value("campaign_exporter_source_up", source="prod") == 1
            assert exporter.proc.poll() is None
    assert "Traceback" not in "".join(exporter.lines)
