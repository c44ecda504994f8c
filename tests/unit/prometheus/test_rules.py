"""The alerting and recording rules as committed: made by the mixin generator, every alert
covered by promtool's unit tests, and written to house style (read here; promtool runs them
in tests/system/test_rules.py)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.sources import SOURCE_KINDS

from ...helpers import mixin_generator

ROOT = Path(__file__).parents[3]
ALERTS = ROOT / "prometheus" / "alerts.yml"
RULES = ROOT / "prometheus" / "rules.yml"

REQUIRED = {
    "CampaignExecutionFailed",
    "CampaignSendOverdue",
    "CampaignHighFailureRatio",
    "CampaignDeliveryGap",
    "CampaignStalled",
    "CampaignNotReadyBeforeSend",
    "GreenArrowHighBounceRate",
    "GreenArrowHighComplaintRate",
    "GreenArrowCampaignFailed",
    "CampaignExporterSourceDown",
    "CampaignExporterDataStale",
    "CampaignExporterRateLimited",
    "CampaignExporterFallingBehind",
    "CampaignExporterDown",
    "CampaignExporterShardMissing",
    "CampaignExporterStorageNotWritable",
}


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_every_alert_fires_and_stays_quiet_in_the_unit_tests() -> None:
    """Each alert has an expected firing case, and its input holds a series that must not."""
    tests = yaml.safe_load((ROOT / "prometheus" / "tests" / "alerts_test.yml").read_text())
    fired = {
        t["alertname"]
        for g in tests["tests"]
        for t in g.get("alert_rule_test", [])
        if t["exp_alerts"]
    }
    assert fired == {r["alert"] for r in alert_rules()}
    # the quiet cases: campaigns named in the inputs that no expected alert names
    for group in tests["tests"][:1]:
        named = {
            m
            for s in group["input_series"]
            for m in re.findall(r'campaign_id="([^"]+)"', s["series"])
        }
        alerted = {
            a["exp_labels"].get("campaign_id")
            for t in group["alert_rule_test"]
            for a in t["exp_alerts"]
        }
        assert {
            "failed-old",
            "done",
            "just-due",
            "lossy-small",
            "moving",
            "ready",
            "tomorrow",
            "clean",
            "tiny",
            "ga-failed-old",
            "other-job",
        } <= named - alerted


def test_the_alerts_the_issue_asks_for_exist() -> None:
    assert {r["alert"] for r in alert_rules()} >= REQUIRED


@pytest.mark.parametrize(
    "rule", alert_rules(), ids=lambda r: f"{r['alert']}-{r['labels']['severity']}"
)
def test_alert_house_style(rule: dict[str, Any]) -> None:
    assert re.fullmatch(r"(?:[A-Z][a-z0-9]+)+", rule["alert"]), "CamelCase name"
    assert rule["labels"]["severity"] in ("critical", "warning", "info")
    notes = rule["annotations"]
    assert "{{" not in notes["summary"] and notes["summary"].endswith(".")
    assert "{{" in notes["description"]
    anchor = rule["alert"].lower()
    assert notes["runbook_url"].endswith(f"docs/runbook.md#{anchor}")
    headings = re.findall(r"^## (\w+)$", (ROOT / "docs" / "runbook.md").read_text(), re.M)
    assert rule["alert"] in headings


def test_the_per_campaign_critical_alerts_keep_firing_across_a_restart() -> None:
    """keep_firing_for on the pages a missed scrape would resolve and raise again; nowhere
    else (a warning with a for: goes pending again, and health alerts read ``up``)."""
    kept = {
        (r["alert"], r["labels"]["severity"]): r["keep_firing_for"]
        for r in alert_rules()
        if "keep_firing_for" in r
    }
    assert kept == {
        ("CampaignExecutionFailed", "critical"): "10m",
        ("GreenArrowCampaignFailed", "critical"): "10m",
        ("GreenArrowHighComplaintRate", "critical"): "10m",
    }


def test_per_campaign_alerts_wait_for_a_read_by_this_process() -> None:
    """Every per-campaign alert leaves out the campaigns whose last read is older than the
    process (restored from storage); no health alert does."""
    gate = (
        "unless on(job, instance, source, campaign_id) "
        '({vendor}_campaign_last_updated_timestamp_seconds{{job="campaign-exporter"}} '
        "< on(job, instance) group_left() "
        'campaign_exporter_start_timestamp_seconds{{job="campaign-exporter"}}) )'
    )
    groups = {g["name"]: g["rules"] for g in yaml.safe_load(ALERTS.read_text())["groups"]}
    for group, vendor in (
        ("campaign-exporter-campaigns", "experiture"),
        ("campaign-exporter-deliverability", "greenarrow"),
    ):
        for rule in groups[group]:
            assert " ".join(rule["expr"].split()).endswith(gate.format(vendor=vendor))
    for rule in groups["campaign-exporter-health"]:
        assert "campaign_exporter_start_timestamp_seconds" not in rule["expr"], rule["alert"]


def test_recording_rules_follow_the_naming_convention() -> None:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    for rule in (r for g in groups for r in g["rules"]):
        assert re.fullmatch(r"[a-z_]+:[a-z_]+:[a-z0-9_]+", rule["record"]), rule["record"]


def test_committed_rules_are_what_the_generator_makes() -> None:
    gen = mixin_generator()
    for name, path in (("alerts.yml", ALERTS), ("rules.yml", RULES)):
        assert path.read_text() == gen.render(name, gen.Config()), (
            f"{path.name} is stale: run python prometheus/mixin.py"
        )


KINDS = "|".join(sorted(SOURCE_KINDS))  # each kind's families start with its name


def selectors(expr: str) -> list[tuple[str, str]]:
    """Every ``name{matchers}`` in an expression, and any metric named without braces."""
    found = re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}", expr)
    bare = re.findall(
        rf"(?<![\w:])((?:{KINDS}|campaign_exporter|instance_source)[\w:]*)(?![\w:{{])",
        expr,
    )
    return found + [(name, "") for name in bare]


def all_rules() -> list[dict[str, Any]]:
    groups = [g for f in (ALERTS, RULES) for g in yaml.safe_load(f.read_text())["groups"]]
    return [rule for group in groups for rule in group["rules"]]


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.get("alert") or r["record"])
def test_every_series_the_rules_read_carries_the_job_selector(rule: dict[str, Any]) -> None:
    found = selectors(rule["expr"])
    assert found
    for name, matchers in found:
        assert 'job="campaign-exporter"' in matchers, f"{name}{{{matchers}}}"


@pytest.mark.parametrize(
    "rule", alert_rules(), ids=lambda r: f"{r['alert']}-{r['labels']['severity']}"
)
def test_every_alert_aggregates_the_replica_labels_away(rule: dict[str, Any]) -> None:
    """Structure only: the HA cases in alerts_test.yml prove what it does."""
    assert re.search(r"(max|min|count|sum) without\(instance, pod\)", rule["expr"])
    assert " by(source, campaign_id)" not in rule["expr"]
