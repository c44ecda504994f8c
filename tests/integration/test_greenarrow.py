"""The GreenArrow source end to end: simulator -> exporter -> /metrics, over real HTTP."""

from __future__ import annotations

import base64
import logging
import time
from typing import Any

import pytest

from exporter.simulator.faults import Fault

from ..expected import GREENARROW_STATES as STATES
from ..expected import GREENARROW_STATS
from ..helpers import (
    Samples,
    config_of,
    experiture_source,
    ga_source,
    running_exporter,
    running_simulator,
)

pytestmark = pytest.mark.anyio


def assert_matches_truth(samples: Samples, truth: list[dict[str, Any]]) -> None:
    ids = {c["campaign_id"] for c in truth}
    assert set(samples.by_campaign("greenarrow_campaign_info")) == ids
    for state in STATES:
        got = samples.by_campaign("greenarrow_campaign_state", state=state)
        assert got == {c["campaign_id"]: float(c["state"] == state) for c in truth}, state
    paused = samples.by_campaign("greenarrow_campaign_paused")
    assert paused == {c["campaign_id"]: float(c["paused"]) for c in truth}
    # The report has no timestamps: each campaign carries the start of the window (a day,
    # a week, the lookback back from the last full UTC hour) it was found in, a lower bound.
    after = samples.by_campaign("greenarrow_campaign_started_after_timestamp_seconds")
    assert set(after) == ids
    hour = time.time() // 3600 * 3600
    day, week = hour - 86400, hour - 7 * 86400
    for c in truth:
        bound, started = after[c["campaign_id"]], c["started_at"]
        assert bound <= started + 120, c["campaign_id"]
        assert bound % 3600 == 0, "windows start on the hour"
        # the hour the window was read in: this one, or the one before
        if started > day + 120:
            assert bound in (day, day - 3600)
        elif week + 120 < started < day - 3600 - 120:
            assert bound in (week, week - 3600)
    for (group, field), (name, _kind, extra) in GREENARROW_STATS.items():
        labels = {extra[0]: extra[1]} if extra else {}
        got = samples.by_campaign(name, **labels)
        want = {c["campaign_id"]: c["stats"][group][field] for c in truth}
        assert got == want, (group, field)


async def test_every_campaign_matches_the_simulator_over_many_pages() -> None:
    async with running_simulator(greenarrow_campaigns=2500) as (sim, url):
        truth = sim.greenarrow.truth(sim.clock.now())
        async with running_exporter(config_of(ga_source(url))) as exp:
            samples = await exp.wait_refreshes("ga", 1)
    assert len(truth) > 2000
    # three start windows (a day, a week, the lookback): each costs at most a page more
    pages = -(-len(truth) // 100)
    assert pages <= sim.stats[("greenarrow", "system_campaigns", 200)] <= pages + 3
    assert_matches_truth(samples, truth)
    first = truth[0]
    [(labels, _)] = samples.values("greenarrow_campaign_info", campaign_id=first["campaign_id"])
    assert labels["organization"] == first["organization"]
    assert labels["mailing_list_id"] == str(first["mailing_list_id"])
    for state in STATES:
        count = samples.value("greenarrow_campaigns", source="ga", state=state)
        assert count == sum(1 for c in truth if c["state"] == state)


async def test_pages_are_walked_until_a_short_one_when_num_pages_is_missing() -> None:
    async with running_simulator(greenarrow_campaigns=450, greenarrow_omit_num_pages=True) as (
        sim,
        url,
    ):
        truth = sim.greenarrow.truth(sim.clock.now())
        async with running_exporter(config_of(ga_source(url))) as exp:
            samples = await exp.wait_refreshes("ga", 1)
    assert_matches_truth(samples, truth)


async def test_lookback_bounds_the_campaigns_exported() -> None:
    async with running_simulator(greenarrow_campaigns=600) as (sim, url):
        now = sim.clock.now()
        async with running_exporter(config_of(ga_source(url, lookback="7d"))) as exp:
            samples = await exp.wait_refreshes("ga", 1)
        truth = sim.greenarrow.truth(now)
    cutoff = time.time() - 7 * 86400
    started = samples.by_campaign("greenarrow_campaign_started_after_timestamp_seconds")
    assert started and min(started.values()) >= cutoff - 3600 - 60  # back from the hour
    clearly_inside = {c["campaign_id"] for c in truth if c["started_at"] > cutoff + 60}
    assert clearly_inside <= set(started)
    assert len(started) < len(truth) / 2


async def test_pre_encoded_key_works_as_basic_authorization() -> None:
    encoded = base64.b64encode(b"1:demo-ga-key").decode()
    async with running_simulator(greenarrow_campaigns=50) as (sim, url):
        source = ga_source(
            url, basic_auth=None, authorization={"type": "Basic", "credentials": encoded}
        )
        async with running_exporter(config_of(source)) as exp:
            samples = await exp.wait_refreshes("ga", 1)
        truth = sim.greenarrow.truth(sim.clock.now())
    assert samples.value("campaign_exporter_source_up", source="ga") == 1
    assert_matches_truth(samples, truth)


async def test_wrong_key_marks_greenarrow_down_once_while_experiture_works(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="campaign_exporter")
    async with running_simulator(greenarrow_campaigns=50, experiture_campaigns=30) as (_s, url):
        config = config_of(
            ga_source(
                url, basic_auth={"username": "1", "password": "wrong-key"}, poll_interval="200ms"
            ),
            experiture_source(url),
        )
        async with running_exporter(config) as exp:
            await exp.next_refreshes("ga", 3)
            samples = await exp.wait_refreshes("prod", 1)
    assert samples.value("campaign_exporter_source_up", source="ga") == 0
    assert samples.value("campaign_exporter_source_up", source="prod") == 1
    assert samples.values("experiture_campaign_execution_state")
    assert (
        samples.number("campaign_exporter_upstream_errors_total", source="ga", reason="auth") >= 4
    )
    lines = [r for r in caplog.records if getattr(r, "kv", {}).get("source") == "ga"]
    assert len(lines) == 1
    assert "GreenArrow refused the credentials" in lines[0].kv["err"]  # type: ignore[attr-defined]
    assert "wrong-key" not in caplog.text


async def test_error_envelope_under_http_200_is_an_error_and_values_stay() -> None:
    async with running_simulator(greenarrow_campaigns=120) as (sim, url):
        truth = sim.greenarrow.truth(sim.clock.now())
        async with running_exporter(config_of(ga_source(url, poll_interval="200ms"))) as exp:
            await exp.wait_refreshes("ga", 1)
            sim.faults.add(Fault(kind="envelope_error", api="greenarrow"))
            failed = await exp.poll("ga")
            assert failed.value("campaign_exporter_source_up", source="ga") == 0
            errors = failed.value(
                "campaign_exporter_upstream_errors_total", source="ga", reason="http_5xx"
            )
            assert errors is not None and errors >= 1
            assert_matches_truth(failed, truth)  # the last good values stay
            sim.faults.clear()
            again = await exp.poll("ga", names=["campaign_exporter_source_up"])
            assert again.value("campaign_exporter_source_up", source="ga") == 1


async def test_stats_grow_while_sending_and_counters_never_go_down() -> None:
    async with running_simulator(greenarrow_campaigns=400) as (sim, url):
        async with running_exporter(config_of(ga_source(url, poll_interval="200ms"))) as exp:
            before = await exp.wait_refreshes("ga", 1)
            sim.clock.advance(1800)
            after = await exp.poll("ga", 2)
        truth = sim.greenarrow.truth(sim.clock.now())
    assert_matches_truth(after, truth)
    sent_before = before.by_campaign("greenarrow_campaign_messages_sent_total")
    sent_after = after.by_campaign("greenarrow_campaign_messages_sent_total")
    grew = [cid for cid in sent_before if sent_after.get(cid, 0) > sent_before[cid]]
    assert grew
    for name, kind, _extra in GREENARROW_STATS.values():
        if kind != "counter":
            continue
        old, new = before.values(name), after.by_name.get(name, [])
        new_by_key = {tuple(sorted(labels.items())): v for labels, v in new}
        for labels, value in old:
            later = new_by_key.get(tuple(sorted(labels.items())))
            assert later is None or later >= value, (name, labels)


FIRST_SEEN = "greenarrow_campaign_first_seen_timestamp_seconds"
STATE_FIRST_SEEN = "greenarrow_campaign_state_first_seen_timestamp_seconds"


async def test_a_campaign_failing_while_watched_was_first_seen_before_it_failed() -> None:
    """What GreenArrowCampaignFailed pages on (the report has no times): the failure was
    first seen later than the campaign was. Reading a campaign again never moves when it
    was first seen."""
    async with running_simulator(greenarrow_campaigns=60) as (sim, url):
        sending = [
            c["campaign_id"]
            for c in sim.greenarrow.truth(sim.clock.now())
            if c["state"] == "sending"
        ]
        assert sending
        names = [FIRST_SEEN, STATE_FIRST_SEEN, "greenarrow_campaign_state"]
        async with running_exporter(config_of(ga_source(url))) as exp:
            before = await exp.wait_refreshes("ga", 1, names=names)
            first = exp.clock.time()
            sim.greenarrow.fail(int(sending[0]), sim.clock.now())
            after = await exp.poll("ga", names=names)
            failed_seen = exp.clock.time()
    seen = before.by_campaign(FIRST_SEEN)
    assert seen and all(t <= first for t in seen.values())
    assert after.by_campaign(FIRST_SEEN) == seen
    cid = sending[0]
    assert after.number("greenarrow_campaign_state", campaign_id=cid, state="failed") == 1
    assert seen[cid] < after.number(STATE_FIRST_SEEN, campaign_id=cid) <= failed_seen
    unchanged = before.by_campaign(STATE_FIRST_SEEN)
    del unchanged[cid]
    assert {c: t for c, t in after.by_campaign(STATE_FIRST_SEEN).items() if c != cid} == unchanged


async def test_a_report_that_ignores_page_keeps_every_campaign() -> None:
    """Served the first page whatever page is asked, the walk stops at the repeat, counts
    it malformed and forgets no campaign it knows; it asks for each page at most once."""
    async with running_simulator(greenarrow_campaigns=60) as (sim, url):
        async with running_exporter(config_of(ga_source(url, per_page=10))) as exp:
            before = await exp.wait_refreshes("ga", 1)
            sim.faults.add(Fault(kind="same_page", api="greenarrow"))
            asked = sim.stats[("greenarrow", "system_campaigns", 200)]
            during = await exp.poll("ga")
            asked = sim.stats[("greenarrow", "system_campaigns", 200)] - asked
    known = before.by_campaign("greenarrow_campaign_info")
    assert len(known) > 10 * 2, "more campaigns than two pages hold"
    assert during.by_campaign("greenarrow_campaign_info") == known
    errors = "campaign_exporter_upstream_errors_total"
    assert during.number(errors, source="ga", reason="malformed") >= 1
    # per start window: its first page, and the repeat that ends the walk
    assert asked <= 2 * 3
