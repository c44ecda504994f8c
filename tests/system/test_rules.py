"""The alerting and recording rules: made by the mixin generator from its config, promtool
clean, unit-tested, and written to house style."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from ..helpers import require_binary

ROOT = Path(__file__).parents[2]
ALERTS = ROOT / "prometheus" / "alerts.yml"
RULES = ROOT / "prometheus" / "rules.yml"
MIXIN = ROOT / "prometheus" / "mixin.py"
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


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mixin", MIXIN)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["mixin"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


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
    gen = generator()
    for name, path in (("alerts.yml", ALERTS), ("rules.yml", RULES)):
        assert path.read_text() == gen.render(name, gen.Config()), (
            f"{path.name} is stale: run python prometheus/mixin.py"
        )


def selectors(expr: str) -> list[tuple[str, str]]:
    """Every ``name{matchers}`` in an expression, and any metric named without braces."""
    found = re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}", expr)
    bare = re.findall(
        r"(?<![\w:])((?:experiture|greenarrow|campaign_exporter|instance_source)[\w:]*)(?![\w:{])",
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


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mixin.yml"
    path.write_text(text)
    return path


def generate(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, MIXIN, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_config_tunes_selector_thresholds_durations_and_runbook(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        """
selector: 'job="campaigns", namespace="mail"'
replica_labels: [instance, pod, replica]
runbook_url_prefix: https://wiki.example.com/runbooks/campaigns#
send_overdue_after: 1h
send_overdue_for: 10m
failure_ratio: 0.2
complaint_rate_warning: 0.002
complaint_rate_critical: 0.005
falling_behind_poll_intervals: 4
falling_behind_for: 30m
exporter_down_for: 2m
shard_missing_for: 3m
campaign_keep_firing_for: 3m
""",
    )
    result = generate("--config", config, "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    alerts = (tmp_path / "out" / "alerts.yml").read_text()
    rules = (tmp_path / "out" / "rules.yml").read_text()
    assert "campaign-exporter" not in (alerts + rules).replace("- name: campaign-exporter-", "")
    assert alerts.startswith("# Generated by prometheus/mixin.py with mixin.yml:")
    by_name = {
        (r["alert"], r["labels"]["severity"]): r
        for g in yaml.safe_load(alerts)["groups"]
        for r in g["rules"]
    }
    overdue = by_name["CampaignSendOverdue", "warning"]
    assert overdue["for"] == "10m"
    assert "> 3600)" in overdue["expr"]
    assert "more than an hour ago" in overdue["annotations"]["description"]
    assert overdue["annotations"]["runbook_url"] == (
        "https://wiki.example.com/runbooks/campaigns#campaignsendoverdue"
    )
    assert (
        'experiture_campaign_execution_state{job="campaigns", namespace="mail", state='
        in (overdue["expr"])
    )
    assert overdue["expr"].startswith("max without(instance, pod, replica) (")
    assert "> 0.2\n" in by_name["CampaignHighFailureRatio", "warning"]["expr"]
    assert "> 0.002 <= 0.005" in by_name["GreenArrowHighComplaintRate", "warning"]["expr"]
    assert "> 0.005\n" in by_name["GreenArrowHighComplaintRate", "critical"]["expr"]
    behind = by_name["CampaignExporterFallingBehind", "warning"]
    assert behind["for"] == "30m"
    assert ")\n> 4\nunless\n" in behind["expr"]
    assert behind["expr"].startswith("min without(instance, pod, replica) (")
    down = by_name["CampaignExporterDown", "critical"]
    assert down["for"] == "2m"
    assert 'absent(up{job="campaigns", namespace="mail"})' in down["expr"]
    assert "for 2 minutes" in down["annotations"]["description"]
    assert by_name["CampaignExporterDown", "warning"]["for"] == "2m"
    assert by_name["CampaignExporterShardMissing", "critical"]["for"] == "3m"
    assert by_name["CampaignExecutionFailed", "critical"]["keep_firing_for"] == "3m"
    assert by_name["GreenArrowCampaignFailed", "critical"]["keep_firing_for"] == "3m"
    assert "keep_firing_for" not in by_name["CampaignStalled", "warning"]
    check = promtool(
        "check", "rules", str(tmp_path / "out" / "alerts.yml"), str(tmp_path / "out" / "rules.yml")
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_keep_firing_for_of_0s_leaves_it_out(tmp_path: Path) -> None:
    result = generate(
        "--config", write_config(tmp_path, "campaign_keep_firing_for: 0s\n"), "--out", tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "keep_firing_for" not in (tmp_path / "alerts.yml").read_text()


def test_print_defaults_is_a_config_that_makes_the_committed_files(tmp_path: Path) -> None:
    defaults = generate("--print-defaults")
    assert defaults.returncode == 0, defaults.stderr
    assert "# CampaignSendOverdue: this long past the send deadline\nsend_overdue_after: 15m\n" in (
        defaults.stdout
    )
    result = generate("--config", write_config(tmp_path, defaults.stdout), "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    for path in (ALERTS, RULES):
        made = (tmp_path / path.name).read_text().split("\n", 1)[1]
        assert made == path.read_text().split("\n", 1)[1]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("send_overdue_afterr: 15m\n", "mixin.yml: send_overdue_afterr: unknown key"),
        (
            "send_overdue_for: 15 minutes\n",
            "mixin.yml: send_overdue_for: '15 minutes' is not a duration like 30s, 15m or 1h30m",
        ),
        ("failure_ratio: 5\n", "mixin.yml: failure_ratio: 5 is not a ratio above 0 and at most 1"),
        (
            "campaign_keep_firing_for: soon\n",
            "mixin.yml: campaign_keep_firing_for: 'soon' is not a duration like 30s, 15m or 1h30m",
        ),
        (
            "bounce_rate_min_messages: -1\n",
            "mixin.yml: bounce_rate_min_messages: -1 is not a whole number of 0 or more",
        ),
        (
            "selector: job=campaign-exporter\n",
            "mixin.yml: selector: 'job=campaign-exporter' is not label matchers like "
            'job="my-job"',
        ),
        ("replica_labels: instance\n", "mixin.yml: replica_labels: expected a list of label names"),
        (
            "complaint_rate_warning: 0.01\n",
            "mixin.yml: complaint_rate_warning: must be below complaint_rate_critical (0.003)",
        ),
        ("- a\n", "mixin.yml: expected a mapping of keys to values"),
        ("a: [\n", "mixin.yml: not valid YAML: while parsing a flow node"),
    ],
)
def test_a_bad_config_is_one_line_naming_the_key(tmp_path: Path, text: str, message: str) -> None:
    result = generate("--config", write_config(tmp_path, text), "--out", tmp_path / "out")
    assert result.returncode == 1
    assert result.stderr == f"mixin.py: {tmp_path / message}\n"
    assert not (tmp_path / "out").exists()
