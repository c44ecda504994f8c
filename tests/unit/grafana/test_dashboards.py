"""The dashboards: what the code makes is what is committed, and every panel keeps the rules."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from exporter.sources import SOURCE_KINDS

ROOT = Path(__file__).parents[3]
BOARDS = ROOT / "grafana" / "dashboards"


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dashboards", ROOT / "grafana" / "dashboards.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def boards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted(BOARDS.glob("*.json"))}


def test_committed_json_is_what_the_code_makes() -> None:
    gen = generator()
    assert set(gen.DASHBOARDS) == set(boards())
    for name, build in gen.DASHBOARDS.items():
        assert (BOARDS / name).read_text() == gen.render(build), (
            f"{name} is stale: run python grafana/dashboards.py"
        )


@pytest.mark.parametrize("name", sorted(boards()))
def test_dashboard_rules(name: str) -> None:
    board = boards()[name]
    assert re.fullmatch(r"[a-z0-9-]{1,40}", board["uid"])
    assert board["editable"] is False
    names = {v["name"]: v for v in board["templating"]["list"]}
    assert names["datasource"]["type"] == "datasource"
    assert {"job", "instance"} <= set(names)
    assert board["panels"]
    for panel in board["panels"]:
        where = f"{name}: {panel['title']}"
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, where
        assert panel["description"].strip(), where
        assert panel["fieldConfig"]["defaults"]["unit"], where
        assert panel["targets"], where
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", where
            for window in re.findall(r"\[([^\]]+)\]", target["expr"]):
                assert window == "$__rate_interval", f"{where}: [{window}]"


def test_uids_are_unique() -> None:
    uids = [b["uid"] for b in boards().values()]
    assert len(uids) == len(set(uids))


def test_schema_version_is_the_one_chosen() -> None:
    """41: what Grafana 11.6 and 12.0 write (see SCHEMA_VERSION in grafana/dashboards.py)."""
    assert {b["schemaVersion"] for b in boards().values()} == {41}


def test_every_board_links_to_every_other() -> None:
    """One tag link on each board lists every board carrying the tag, keeping variables
    and time range."""
    for name, board in boards().items():
        [link] = board["links"]
        assert link["type"] == "dashboards", name
        assert link["tags"] == ["campaign-exporter"], name
        assert link["includeVars"] is True and link["keepTime"] is True, name
        assert "campaign-exporter" in board["tags"], name
    assert len(boards()) == 4


def test_campaign_tables_open_the_campaign_detail_on_the_row() -> None:
    detail = boards()["campaign-detail.json"]["uid"]
    linked = {}
    for board in boards().values():
        for panel in board["panels"]:
            for link in panel["fieldConfig"]["defaults"].get("links", []):
                linked[panel["title"]] = link["url"]
    assert set(linked) == {"Worst failure ratios", "Campaigns bouncing most"}
    for url in linked.values():
        assert url.startswith(f"/d/{detail}?")
        params = url.split("?", 1)[1].split("&")
        assert "var-campaign=${__data.fields.campaign_id}" in params
        assert "var-source=${__data.fields.source}" in params
        assert {"${job:queryparam}", "${instance:queryparam}", "${__url_time_range}"} <= set(params)


def grafana_regex(regex: str) -> re.Pattern[str]:
    """A Grafana variable regex (JavaScript, between slashes) as a Python pattern."""
    assert regex.startswith("/") and regex.endswith("/")
    return re.compile(regex[1:-1].replace("(?<", "(?P<"))


def test_the_campaign_picker_shows_names_and_selects_ids() -> None:
    [picker] = [
        v for v in boards()["campaign-detail.json"]["templating"]["list"] if v["name"] == "campaign"
    ]
    query = picker["query"]["query"]
    assert re.fullmatch(r"query_result\(.+\)", query)
    assert "experiture_campaign_info{" in query and "greenarrow_campaign_info{" in query
    pattern = grafana_regex(picker["regex"])
    # how Grafana renders a query_result row: {labels joined by ","} value timestamp-in-ms,
    # label values as they are (a quote in a name is not escaped)
    row = '{campaign_id="7f3c-01",name="Spring sale, "VIP" list"} 1 1700000000000'
    match = pattern.search(row)
    assert match
    assert match["value"] == "7f3c-01"
    assert match["text"] == 'Spring sale, "VIP" list'


KINDS = "|".join(sorted(SOURCE_KINDS))  # each kind's families start with its name


def selectors(expr: str) -> list[tuple[str, str]]:
    """Every ``name{matchers}`` in a query, and any metric named without braces."""
    found = re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}", expr)
    bare = re.findall(
        rf"(?<![\w:$])((?:{KINDS}|campaign_exporter|instance_source|process)[\w:]*)"
        r"(?![\w:{])",
        expr,
    )
    return found + [(name, "") for name in bare]


def queries(board: dict[str, Any]) -> list[tuple[str, str]]:
    out = [(p["title"], t["expr"]) for p in board["panels"] for t in p["targets"]]
    out += [(f"annotation {a['name']}", a["expr"]) for a in board["annotations"]["list"]]
    out += [
        (f"variable {v['name']}", v["query"]["query"])
        for v in board["templating"]["list"]
        if v["type"] == "query" and v["name"] != "job"
    ]
    return out


@pytest.mark.parametrize("name", sorted(boards()))
def test_every_query_filters_by_job_and_instance(name: str) -> None:
    """ALERTS has no instance: the rules merge replicas; the instance variable's own query
    filters by job only."""
    for where, expr in queries(boards()[name]):
        found = selectors(expr)
        assert found, where
        for metric, matchers in found:
            assert 'job=~"$job"' in matchers, f"{where}: {metric}{{{matchers}}}"
            if metric != "ALERTS" and where != "variable instance":
                assert 'instance=~"$instance"' in matchers, f"{where}: {metric}{{{matchers}}}"


@pytest.mark.parametrize(
    "name", ["fleet-overview.json", "campaign-detail.json", "greenarrow-deliverability.json"]
)
def test_campaign_boards_count_each_campaign_once_however_many_replicas(name: str) -> None:
    """Campaign series are merged across replicas, or read from the per-target sums."""
    for where, expr in queries(boards()[name]):
        if where.startswith(("variable", "annotation")):
            continue
        assert "max without(instance, pod)" in expr or "instance_source_" in expr, where


@pytest.mark.parametrize(
    ("name", "alerts"),
    [
        ("fleet-overview.json", 'alertname=~"CampaignExecutionFailed"'),
        ("greenarrow-deliverability.json", 'alertname=~"GreenArrowCampaignFailed"'),
        ("campaign-detail.json", 'campaign_id="$campaign"'),
    ],
)
def test_failures_are_annotated(name: str, alerts: str) -> None:
    [annotation] = boards()[name]["annotations"]["list"]
    assert annotation["enable"] is True
    assert annotation["expr"].startswith('ALERTS{alertstate="firing"')
    assert alerts in annotation["expr"]
