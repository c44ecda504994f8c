"""The Experiture source end to end: simulator -> exporter -> /metrics, over real HTTP."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from exporter.simulator.faults import Fault

from ..expected import EXPERITURE_STAGES as STAGES
from ..expected import EXPERITURE_STATES as STATES
from ..helpers import (
    Samples,
    config_of,
    experiture_source,
    exported,
    running_exporter,
    running_simulator,
)

pytestmark = pytest.mark.anyio


def deadline(c: dict[str, Any]) -> float:
    """sendAt, or the end of the batch day in the batch's time zone."""
    if c["mode"] != "batch_on_date":
        return float(c["send_at"])
    day = date.fromisoformat(c["batch_date"]) + timedelta(days=1)
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(c["timezone"])).timestamp()


async def test_every_broadcast_campaign_matches_the_simulator_after_one_refresh() -> None:
    """State, pipeline counts, failure ratio and setup equal the truth, over 1,200 campaigns."""
    async with running_simulator(experiture_campaigns=1200) as (sim, url):
        truth = sim.experiture.truth(sim.clock.now())
        async with running_exporter(config_of(experiture_source(url))) as exp:
            text = await exp.wait_refreshes("prod", 1)

    want = exported(truth)
    assert len(want) > 1000
    info = text.by_campaign("experiture_campaign_info")
    assert set(info) == {c["campaign_id"] for c in want}

    for state in STATES:
        got = text.by_campaign("experiture_campaign_execution_state", state=state)
        assert got == {c["campaign_id"]: float(c["state"] == state) for c in want}, state

    for stage in STAGES:
        got = text.by_campaign("experiture_campaign_pipeline_records", stage=stage)
        expected = {c["campaign_id"]: c["counts"][stage] for c in want if c["counts"]}
        assert got == expected, stage

    ratios = text.by_campaign("experiture_campaign_failure_ratio")
    expected_ratios = {
        c["campaign_id"]: c["counts"]["failed"] / c["counts"]["scheduled"]
        for c in want
        if c["counts"] and c["counts"]["scheduled"]
    }
    assert ratios == pytest.approx(expected_ratios)

    # a "now" send has no sendAt; a batch is due from the start of its day in its zone
    timed = [c for c in want if c["send_at"] and c["mode"] != "now"]
    sends = text.by_campaign("experiture_campaign_scheduled_send_timestamp_seconds")
    assert sends == pytest.approx({c["campaign_id"]: c["send_at"] for c in timed}, abs=0.001)
    deadlines = text.by_campaign("experiture_campaign_send_deadline_timestamp_seconds")
    assert deadlines == pytest.approx({c["campaign_id"]: deadline(c) for c in timed}, abs=0.001)
    batches = [c for c in timed if c["mode"] == "batch_on_date"]
    assert batches, "the fleet has date-only direct-mail batches"
    for c in batches:
        [(labels, _)] = text.values(
            "experiture_campaign_schedule_info", campaign_id=c["campaign_id"]
        )
        assert labels["mode"] == "batch_on_date" and labels["timezone"] == c["timezone"]
    started = text.by_campaign("experiture_campaign_last_execution_started_timestamp_seconds")
    assert started == pytest.approx(
        {c["campaign_id"]: c["started_at"] for c in want if c["started_at"]}, abs=0.001
    )
    completed = text.by_campaign("experiture_campaign_last_execution_completed_timestamp_seconds")
    assert completed == pytest.approx(
        {c["campaign_id"]: c["completed_at"] for c in want if c["completed_at"]}, abs=0.001
    )
    configured = text.by_campaign("experiture_campaign_configured")
    assert configured == {c["campaign_id"]: float(c["configured"]) for c in want}
    reach = text.by_campaign("experiture_campaign_audience_reach_records")
    assert reach == {c["campaign_id"]: c["reach"] for c in want}

    first = want[0]
    [(labels, _)] = text.values("experiture_campaign_info", campaign_id=first["campaign_id"])
    assert labels == {
        "source": "prod",
        "campaign_id": first["campaign_id"],
        "name": first["name"],
        "channel": first["channel"],
        "campaign_type": "broadcast",
        "authoring_status": "published",
    }

    for state in STATES:
        count = text.value("experiture_campaigns", source="prod", state=state)
        assert count == sum(1 for c in want if c["state"] == state), state


async def test_non_broadcast_campaigns_are_skipped_quietly_and_not_asked_again() -> None:
    async with running_simulator(experiture_campaigns=200) as (sim, url):
        truth = sim.experiture.truth(sim.clock.now())
        unsupported = [
            c
            for c in truth
            if c["authoring_status"] == "published" and c["campaign_type"] != "broadcast"
        ]
        assert unsupported
        source = experiture_source(url)  # each poll steps the clock an hour: 3 rounds
        async with running_exporter(config_of(source)) as exp:
            text = await exp.poll("prod", 2)

    assert text.value("campaign_exporter_source_up", source="prod") == 1
    skipped = text.value(
        "campaign_exporter_campaigns_skipped_total", source="prod", reason="unsupported_type"
    )
    refreshes = text.value(
        "campaign_exporter_source_refreshes_total", source="prod", result="success"
    )
    assert refreshes == 3
    # the first round counts each as its 409 comes, later rounds at their listing
    assert skipped == len(unsupported) * 3
    assert sim.stats[("experiture", "status", 409)] == len(unsupported)
    info = text.by_campaign("experiture_campaign_info")
    assert not set(info) & {c["campaign_id"] for c in unsupported}


async def test_deleted_campaign_leaves_metrics_on_the_next_refresh() -> None:
    async with running_simulator(experiture_campaigns=60) as (sim, url):
        source = experiture_source(url, poll_interval="200ms")
        async with running_exporter(config_of(source)) as exp:
            text = await exp.wait_refreshes("prod", 1)
            victim = next(iter(text.by_campaign("experiture_campaign_info")))
            sim.experiture.campaigns[victim].deleted = True
            text = await exp.poll("prod")
            # also answered 404 once, when it was asked for before leaving discovery
            for name in ("experiture_campaign_info", "experiture_campaign_execution_state"):
                assert victim not in text.by_campaign(name)
            assert text.value("campaign_exporter_source_up", source="prod") == 1


async def test_404_on_status_drops_the_campaign_and_keeps_the_source_up() -> None:
    async with running_simulator(experiture_campaigns=60) as (sim, url):
        source = experiture_source(
            url,
            discovery={"enabled": False},
            campaigns=[],
            poll_interval="200ms",
            polling={"adaptive": False},  # ask /status of both every refresh
        )
        truth = exported(sim.experiture.truth(sim.clock.now()))
        keep, gone = truth[0]["campaign_id"], truth[1]["campaign_id"]
        source["campaigns"] = [keep, gone]
        async with running_exporter(config_of(source)) as exp:
            text = await exp.wait_refreshes("prod", 1)
            assert set(text.by_campaign("experiture_campaign_info")) == {keep, gone}
            sim.experiture.campaigns[gone].deleted = True
            text = await exp.poll("prod")
    assert set(text.by_campaign("experiture_campaign_info")) == {keep}
    assert sim.stats[("experiture", "status", 404)] >= 1
    assert text.value("campaign_exporter_source_up", source="prod") == 1


async def test_token_without_analytics_scope_falls_back_to_status_counts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="campaign_exporter")
    async with running_simulator(experiture_campaigns=80) as (sim, url):
        truth = exported(sim.experiture.truth(sim.clock.now()))
        source = experiture_source(
            url, authorization={"credentials": "campaigns-only-token"}, poll_interval="200ms"
        )
        async with running_exporter(config_of(source)) as exp:
            text = await exp.poll("prod", 2)

    assert text.value("experiture_analytics_scope_granted", source="prod") == 0
    assert text.value("campaign_exporter_source_up", source="prod") == 1
    sent = text.by_campaign("experiture_campaign_pipeline_records", stage="sent")
    assert sent == {c["campaign_id"]: c["counts"]["sent"] for c in truth if c["counts"]}
    scope_lines = [r for r in caplog.records if "analytics:read" in r.getMessage()]
    assert len(scope_lines) == 1
    # /metrics is not asked again every refresh once it was refused
    assert sim.stats[("experiture", "metrics", 403)] <= 8


async def test_oauth_token_is_cached_and_fetched_again_after_a_401() -> None:
    async with running_simulator(experiture_campaigns=30) as (sim, url):
        source = experiture_source(
            url,
            authorization=None,
            poll_interval="200ms",
            oauth2={
                "token_url": f"{url}/oauth/token",
                "client_id": "demo-client",
                "client_secret": "demo-secret",
                "scopes": ["campaigns:read"],
            },
        )
        del source["authorization"]
        async with running_exporter(config_of(source)) as exp:
            await exp.next_refreshes("prod", 2)
            assert sim.stats[("experiture", "token", 200)] == 1
            sim.experiture.expire_tokens()
            text = await exp.poll("prod", 2)
    assert sim.stats[("experiture", "token", 200)] == 2
    assert sum(n for (api, _, code), n in sim.stats.items() if code == 401) >= 1
    assert text.value("campaign_exporter_source_up", source="prod") == 1


async def test_oauth_token_is_renewed_before_it_expires() -> None:
    async with running_simulator(experiture_campaigns=10, token_ttl=1.0) as (sim, url):
        source = experiture_source(
            url,
            poll_interval="300ms",
            oauth2={
                "token_url": f"{url}/oauth/token",
                "client_id": "demo-client",
                "client_secret": "demo-secret",
            },
        )
        del source["authorization"]
        async with running_exporter(config_of(source)) as exp:
            await exp.wait_published("prod", 6)
    assert sim.stats[("experiture", "token", 200)] >= 2
    assert sim.stats[("experiture", "status", 401)] == 0


async def test_refused_credentials_mark_the_source_down_without_crashing() -> None:
    async with running_simulator(experiture_campaigns=10) as (_sim, url):
        source = experiture_source(url, authorization={"credentials": "wrong-token"})
        async with running_exporter(config_of(source)) as exp:
            text = await exp.wait_refreshes("prod", 1)
            status, page = await exp.get("/")
    assert text.value("campaign_exporter_source_up", source="prod") == 0
    assert text.number("campaign_exporter_upstream_errors_total", source="prod", reason="auth") >= 1
    assert status == 200
    assert "401" in page and "wrong-token" not in page


async def test_undocumented_state_gets_its_own_series() -> None:
    async with running_simulator(experiture_campaigns=20) as (sim, url):
        sim.faults.add(Fault(kind="unknown_values", api="experiture", endpoint="status"))
        async with running_exporter(config_of(experiture_source(url))) as exp:
            text = await exp.wait_refreshes("prod", 1)
    odd = text.by_campaign("experiture_campaign_execution_state", state="surprising_new_value")
    assert odd and set(odd.values()) == {1.0}
    cid = next(iter(odd))
    for state in STATES:
        assert text.value("experiture_campaign_execution_state", campaign_id=cid, state=state) == 0
    assert text.value("experiture_campaigns", source="prod", state="surprising_new_value") == len(
        odd
    )


async def test_explicit_campaign_ids_are_polled_without_discovery() -> None:
    async with running_simulator(experiture_campaigns=40) as (sim, url):
        truth = exported(sim.experiture.truth(sim.clock.now()))
        ids = [truth[3]["campaign_id"], truth[7]["campaign_id"]]
        source = experiture_source(url, discovery={"enabled": False}, campaigns=ids)
        async with running_exporter(config_of(source)) as exp:
            text = await exp.wait_refreshes("prod", 1)
    assert set(text.by_campaign("experiture_campaign_info")) == set(ids)
    assert sim.stats[("experiture", "list", 200)] == 0


async def test_progress_timestamp_moves_only_for_stages_that_grew() -> None:
    """While a send runs, a growing stage's timestamp moves and a constant one's does not;
    a finished campaign has none (only a running send can stall)."""
    async with running_simulator(experiture_campaigns=160) as (sim, url):
        # polls come by clock steps: a 200 ms interval in real time re-read the running
        # campaigns so often that a loaded machine's first round took over 30 s
        source = experiture_source(url, poll_interval="1m")
        async with running_exporter(config_of(source)) as exp:
            first = await exp.wait_refreshes("prod", 1)
            before = {c["campaign_id"]: c for c in exported(sim.experiture.truth(sim.clock.now()))}
            sim.clock.advance(300)
            after = {c["campaign_id"]: c for c in exported(sim.experiture.truth(sim.clock.now()))}
            second = await exp.poll("prod", 2)
    name = "experiture_campaign_pipeline_last_progress_timestamp_seconds"
    both = [
        cid
        for cid in before
        if before[cid]["state"] == "running"
        and after[cid]["state"] == "running"
        and after[cid]["counts"]["sent"] > before[cid]["counts"]["sent"]
    ]
    assert both
    for cid in both:
        assert second.number(name, campaign_id=cid, stage="sent") > first.number(
            name, campaign_id=cid, stage="sent"
        )
        assert second.number(name, campaign_id=cid, stage="scheduled") == first.number(
            name, campaign_id=cid, stage="scheduled"
        )
    finished = [cid for cid, c in after.items() if c["state"] in ("completed", "failed")]
    assert finished
    assert not [cid for cid in finished if second.values(name, campaign_id=cid)]


async def test_adaptive_polling_keeps_active_campaigns_fresh_and_leaves_idle_ones() -> None:
    """A state change of a running, overdue or about-to-send campaign is on /metrics after
    the next refresh; campaigns that finished long ago are not asked again."""
    async with running_simulator(experiture_campaigns=1500) as (sim, url):
        source = experiture_source(url, poll_interval="1m", polling={"send_lead": "2h"})
        async with running_exporter(config_of(source)) as exp:
            await exp.wait_published("prod", 1)
            start = sim.clock.now()
            before = {c["campaign_id"]: c for c in exported(sim.experiture.truth(start))}
            status_before = dict(sim.stats)
            sim.clock.advance(3600)  # less than send_lead: every near send is watched
            after = {c["campaign_id"]: c for c in exported(sim.experiture.truth(sim.clock.now()))}
            samples = await exp.poll("prod", 2, names=["experiture_campaign_execution_state"])
    watched = [
        cid
        for cid, c in before.items()
        if c["state"] in ("running", "pending_or_overdue")
        or (c["state"] == "scheduled" and c["send_at"] - start < 7200)
    ]
    changed = [cid for cid in watched if after[cid]["state"] != before[cid]["state"]]
    assert {before[cid]["state"] for cid in changed} >= {"running", "scheduled"}, (
        "the clock step should finish running sends and start scheduled ones"
    )
    for cid in watched:
        state = after[cid]["state"]
        assert (
            samples.value("experiture_campaign_execution_state", campaign_id=cid, state=state) == 1
        ), (cid, before[cid]["state"], state)
    idle = [
        cid
        for cid, c in before.items()
        if c["state"] in ("completed", "failed") and c["completed_at"] < start - 7200
    ]
    polled = sim.stats[("experiture", "status", 200)] - status_before[("experiture", "status", 200)]
    assert idle and polled <= 3 * (len(before) - len(idle))


async def test_a_409_of_another_code_is_an_error_and_the_campaign_stays() -> None:
    """Only TYPE_UNSUPPORTED and SUMMARY_TYPE_UNSUPPORTED mean "not a broadcast"."""
    async with running_simulator(experiture_campaigns=40) as (sim, url):
        source = experiture_source(url, poll_interval="200ms", polling={"adaptive": False})
        async with running_exporter(config_of(source)) as exp:
            before = await exp.wait_refreshes("prod", 1)
            sim.faults.add(Fault(kind="conflict", api="experiture", endpoint="status", count=5))
            errors = "campaign_exporter_upstream_errors_total"
            during = await exp.wait_until(
                lambda s: (s.value(errors, source="prod", reason="http_4xx") or 0) >= 5,
                "five 409s counted as http_4xx",
                names=[errors],
            )
            after = await exp.poll("prod", 2)
    skipped = "campaign_exporter_campaigns_skipped_total"
    assert during.value(errors, source="prod", reason="unsupported") == before.value(
        errors, source="prod", reason="unsupported"
    )
    grew = (after.value(skipped, source="prod", reason="unsupported_type") or 0) - (
        before.value(skipped, source="prod", reason="unsupported_type") or 0
    )
    refreshes = refreshes_between(before, after)
    # the genuinely unsupported campaigns go on being skipped, nothing more
    assert grew == refreshes * len(unsupported_of(sim))
    assert set(after.by_campaign("experiture_campaign_info")) == set(
        before.by_campaign("experiture_campaign_info")
    )


def refreshes_between(before: Samples, after: Samples) -> float:
    name = "campaign_exporter_source_refreshes_total"
    return sum(v for _, v in after.values(name, source="prod")) - sum(
        v for _, v in before.values(name, source="prod")
    )


def unsupported_of(sim: Any) -> list[str]:
    return [
        c["campaign_id"]
        for c in sim.experiture.truth(sim.clock.now())
        if c["authoring_status"] == "published" and c["campaign_type"] != "broadcast"
    ]


async def test_reach_status_and_staleness_match_the_summary() -> None:
    async with running_simulator(experiture_campaigns=200) as (sim, url):
        truth = exported(sim.experiture.truth(sim.clock.now()))
        async with running_exporter(config_of(experiture_source(url))) as exp:
            samples = await exp.wait_refreshes("prod", 1)
    assert {c["reach_status"] for c in truth} >= {"ok", "pending", "failed", "idle"}
    for status in ("idle", "pending", "ok", "failed"):
        got = samples.by_campaign("experiture_campaign_audience_reach_status", status=status)
        assert got == {c["campaign_id"]: float(c["reach_status"] == status) for c in truth}
    stale = samples.by_campaign("experiture_campaign_audience_reach_stale")
    assert stale == {c["campaign_id"]: float(c["reach_stale"]) for c in truth}


async def test_discovery_walks_the_lists_head_each_poll_and_the_whole_list_less_often() -> None:
    """Once the whole list is known, a poll with nothing edited reads its first page only;
    an edit deep in the list comes to the head and is read at the next poll, which walks
    on to the first page with nothing new; the whole list
    is walked again after ``discovery.full_walk_interval``, or after as many poll intervals
    as it has pages when that is longer, so it never costs more than a page a poll."""
    async with running_simulator(experiture_campaigns=300) as (sim, url):
        listed = [c for c in sim.experiture.campaigns.values() if c.authoring_status == "published"]
        # offset pages to the first short one, then the first page again (edits meanwhile)
        whole = len(listed) // 10 + 1 + 1
        assert whole >= 20, "a list of many pages"
        source = experiture_source(
            url, poll_interval="1m", discovery={"page_size": 10, "full_walk_interval": "5m"}
        )

        def pages() -> int:
            return sim.stats[("experiture", "list", 200)]

        async with running_exporter(config_of(source)) as exp:
            await exp.wait_published("prod", 1)
            assert pages() == whole
            heads = []
            for _ in range(6):  # past full_walk_interval, short of `whole` poll intervals
                before = pages()
                await exp.next_refreshes("prod")
                heads.append(pages() - before)
            assert heads == [1] * 6

            edited = sorted(listed, key=lambda c: c.updated_at)[0]  # the last page's
            edited.name = "renamed"
            edited.updated_at = sim.clock.now()
            before = pages()
            text = await exp.poll("prod", names=["experiture_campaign_info"])
            assert pages() - before == 2  # the head with it, the next page unchanged
            [(labels, _)] = text.values("experiture_campaign_info", campaign_id=edited.campaign_id)
            assert labels["name"] == "renamed"

            for _ in range(whole - 8):  # the whole list once its pages' worth of polls passed
                await exp.next_refreshes("prod")
            before = pages()
            await exp.next_refreshes("prod")
            assert pages() - before == whole
