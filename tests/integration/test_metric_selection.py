"""A source's ``metrics:`` block on the exporter in this process: families switched off
(include or exclude) and sparse state sets, applied to every source kind alike."""

from __future__ import annotations

import pytest

from exporter.sources import SOURCE_KINDS

from ..expected import EXPERITURE_STATES, GREENARROW_STATES
from ..helpers import (
    Samples,
    config_of,
    experiture_source,
    exported,
    ga_source,
    running_exporter,
    running_simulator,
)


def families_of(samples: Samples, source: str) -> set[str]:
    """The campaign families (not the exporter's own) with a sample of ``source``."""
    return {
        name
        for name, found in samples.by_name.items()
        if not name.startswith("campaign_exporter_")
        and any(labels.get("source") == source for labels, _ in found)
    }


@pytest.mark.anyio
async def test_sparse_state_sets_have_only_each_campaigns_current_state() -> None:
    sparse = {"state_sets": "sparse"}
    async with running_simulator(experiture_campaigns=200, greenarrow_campaigns=200) as (sim, url):
        exp_truth = exported(sim.experiture.truth(sim.clock.now()))
        ga_truth = sim.greenarrow.truth(sim.clock.now())
        config = config_of(experiture_source(url, metrics=sparse), ga_source(url, metrics=sparse))
        async with running_exporter(config) as exp:
            await exp.wait_refreshes("ga", 1)
            samples = await exp.wait_refreshes("prod", 1)
    state = {
        (labels["campaign_id"], labels["state"]): value
        for labels, value in samples.values("experiture_campaign_execution_state")
    }
    assert state == {(c["campaign_id"], c["state"]): 1.0 for c in exp_truth}
    assert {s for _, s in state} == set(EXPERITURE_STATES)  # every state is in this fleet
    ga_state = {
        (labels["campaign_id"], labels["state"]): value
        for labels, value in samples.values("greenarrow_campaign_state")
    }
    assert ga_state == {(c["campaign_id"], c["state"]): 1.0 for c in ga_truth}
    assert {s for _, s in ga_state} == set(GREENARROW_STATES)
    for name in (
        "experiture_campaign_audience_reach_status",
        "experiture_campaign_preflight_status",
    ):
        values = [value for _, value in samples.values(name)]
        assert values and set(values) == {1.0}, name
    # what is not a state set keeps a series per state or stage, zeros included
    assert len(samples.values("experiture_campaigns", source="prod")) == len(EXPERITURE_STATES)
    failed = samples.values("experiture_campaign_pipeline_records", stage="failed")
    assert 0.0 in {value for _, value in failed}


@pytest.mark.anyio
async def test_switched_off_families_are_not_exported_and_defaults_export_all() -> None:
    lean = experiture_source(
        "",
        name="lean",
        metrics={"include": ["experiture_campaign_execution_state", "experiture_campaign_info"]},
    )
    excluded = ["greenarrow_campaign_unique_opens_total", "greenarrow_campaign_unique_clicks_total"]
    async with running_simulator(experiture_campaigns=100, greenarrow_campaigns=100) as (_s, url):
        lean["base_url"] = f"{url}/public/v1"
        config = config_of(
            experiture_source(url), lean, ga_source(url, metrics={"exclude": excluded})
        )
        async with running_exporter(config) as exp:
            for source in ("ga", "lean"):
                await exp.wait_refreshes(source, 1)
            samples = await exp.wait_refreshes("prod", 1)
    assert families_of(samples, "lean") == {
        "experiture_campaign_execution_state",
        "experiture_campaign_info",
    }
    full = families_of(samples, "prod")
    assert len(full) >= 15 and {"experiture_campaigns", "experiture_campaign_info"} <= full
    assert len(samples.values("experiture_campaign_execution_state", source="lean")) == len(
        samples.values("experiture_campaign_execution_state", source="prod")
    )
    ga = families_of(samples, "ga")
    assert ga.isdisjoint(excluded)
    assert {"greenarrow_campaign_opens_total", "greenarrow_campaign_clicks_total"} <= ga
    # the exporter's own families are not a source's to switch off
    assert samples.value("campaign_exporter_source_up", source="lean") == 1


@pytest.mark.anyio
async def test_every_family_a_source_exports_is_one_its_kind_names() -> None:
    """What ``metrics:`` is checked against is what the sources really render."""
    async with running_simulator(experiture_campaigns=200, greenarrow_campaigns=200) as (_s, url):
        async with running_exporter(config_of(experiture_source(url), ga_source(url))) as exp:
            await exp.wait_refreshes("ga", 1)
            samples = await exp.wait_refreshes("prod", 1)
    for source, kind in (("prod", "experiture"), ("ga", "greenarrow")):
        names = SOURCE_KINDS[kind].metric_families
        exported = families_of(samples, source)
        assert len(exported) >= 15
        assert exported <= set(names), kind
        assert len(set(names)) == len(names), kind
