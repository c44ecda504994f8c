"""The alerting and recording rules: promtool clean, unit-tested, and written to house style."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from .helpers import require_binary

ROOT = Path(__file__).parent.parent
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
}


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_binary("promtool"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT / "prometheus",
    )


def test_promtool_check_rules() -> None:
    result = promtool("check", "rules", str(ALERTS), str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_test_rules() -> None:
    result = promtool("test", "rules", "tests/alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


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


def test_recording_rules_follow_the_naming_convention() -> None:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    for rule in (r for g in groups for r in g["rules"]):
        assert re.fullmatch(r"[a-z_]+:[a-z_]+:[a-z0-9_]+", rule["record"]), rule["record"]
