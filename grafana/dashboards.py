"""The Grafana dashboards as code: ``python grafana/dashboards.py`` writes dashboards/*.json.

A test rebuilds them and compares with the committed files, and checks the house rules
(explicit uid, a datasource variable on every panel, job and instance on every query,
units and a description on every panel, $__rate_interval in every range, not editable,
links between the boards, tables that open the campaign detail).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).parent / "dashboards"
# Grafana's dashboard JSON (classic model) version: 41 is what Grafana 11.6 and 12.0 write;
# 12.x's later migrations (42, 43) change nothing these boards use, and a Grafana older than
# the version it is given loads it as it is.
SCHEMA_VERSION = 41
TAG = "campaign-exporter"
CAMPAIGN_UID = "campaign-exporter-campaign"
DS = {"type": "prometheus", "uid": "${datasource}"}
NODE = 'job=~"$job", instance=~"$instance"'
SEL = NODE + ', source=~"$source"'
GA_SEL = SEL + ', organization=~"$organization"'
ONE = SEL + ', campaign_id="$campaign"'
FAILURES = "CampaignExecutionFailed|GreenArrowCampaignFailed"

Panel = dict[str, Any]


def merged(expr: str) -> str:
    """Per campaign, one series however many replicas (an HA pair) export it."""
    return f"max without(instance, pod) ({expr})"


def per_shard(expr: str) -> str:
    """An exporter-wide gauge, one series per shard: the replicas of a shard merged, so a
    sum over shards counts each campaign once."""
    return merged(
        f"{expr} * on(job, instance) group_left(shard) campaign_exporter_shard_info{{{NODE}}}"
    )


def joined(expr: str, labels: str, info: str = "experiture_campaign_info", sel: str = SEL) -> str:
    """``expr`` with labels of the campaign's info series (matched within one target)."""
    return merged(
        f"{expr} * on(job, instance, source, campaign_id) group_left({labels}) {info}{{{sel}}}"
    )


def panel(
    kind: str,
    title: str,
    description: str,
    unit: str,
    *targets: tuple[str, str],
    width: int = 12,
    height: int = 8,
    **options: Any,
) -> Panel:
    extra: dict[str, Any] = {
        k: options.pop(k) for k in ("links", "transformations") if k in options
    }
    defaults = {"unit": unit, **options.pop("defaults", {})}
    if "links" in extra:
        defaults["links"] = extra.pop("links")
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options,
        "targets": [
            {
                "refId": chr(ord("A") + i),
                "datasource": DS,
                "expr": expr,
                "legendFormat": legend,
                **({"format": "table", "instant": True} if kind == "table" else {}),
            }
            for i, (expr, legend) in enumerate(targets)
        ],
        "gridPos": {"w": width, "h": height},
        **extra,
    }


def campaign_table(
    title: str, description: str, unit: str, expr: str, value: str, width: int = 24
) -> Panel:
    """A table of campaigns, each row opening the campaign detail board on that campaign."""
    return panel(
        "table",
        title,
        description,
        unit,
        (expr, ""),
        width=width,
        links=[
            {
                "title": "Campaign detail: ${__data.fields.name}",
                "url": f"/d/{CAMPAIGN_UID}?${{datasource:queryparam}}&${{job:queryparam}}"
                "&${instance:queryparam}&var-source=${__data.fields.source}"
                "&var-campaign=${__data.fields.campaign_id}&${__url_time_range}",
            }
        ],
        transformations=[
            {
                "id": "organize",
                "options": {
                    "excludeByName": {"Time": True, "job": True},
                    "renameByName": {"Value": value},
                },
            }
        ],
    )


def query_var(
    name: str, label: str, query: str, multi: bool = True, regex: str = ""
) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DS,
        "query": {"query": query, "refId": name},
        "definition": query,
        "regex": regex,
        "refresh": 2,
        "includeAll": multi,
        "multi": multi,
        "allValue": ".*" if multi else None,
        "current": {},
        "sort": 1,
    }


def variables(*extra: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "name": "datasource",
            "label": "Data source",
            "type": "datasource",
            "query": "prometheus",
            "current": {},
        },
        query_var("job", "Job", "label_values(campaign_exporter_build_info, job)", multi=False),
        query_var(
            "instance",
            "Instance",
            'label_values(campaign_exporter_build_info{job=~"$job"}, instance)',
        ),
        *extra,
    ]


def source_var(metric: str) -> dict[str, Any]:
    return query_var("source", "Source", f"label_values({metric}{{{NODE}}}, source)")


def failures(name: str, alertnames: str, extra: str = 'source=~"$source"') -> dict[str, Any]:
    """An annotation at each alert of ``alertnames`` while it fires (the rules keep ``job``
    and merge replicas, so ALERTS has no ``instance``)."""
    return {
        "name": name,
        "datasource": DS,
        "enable": True,
        "hide": False,
        "iconColor": "red",
        "expr": f'ALERTS{{alertstate="firing", alertname=~"{alertnames}", job=~"$job", {extra}}}',
        "step": "1m",
        "titleFormat": "{{alertname}}",
        "textFormat": "{{source}} {{campaign_id}}",
        "tagKeys": "alertname,source,campaign_id",
        "useValueForTime": False,
    }


def dashboard(
    uid: str,
    title: str,
    description: str,
    panels: list[Panel],
    templating: list[dict[str, Any]],
    annotations: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    x = y = row_height = 0
    for i, p in enumerate(panels, start=1):
        p["id"] = i
        w, h = p["gridPos"]["w"], p["gridPos"]["h"]
        if x + w > 24:
            x, y, row_height = 0, y + row_height, 0
        p["gridPos"] = {"x": x, "y": y, "w": w, "h": h}
        x, row_height = x + w, max(row_height, h)
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": [TAG],
        "editable": False,
        "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "refresh": "1m",
        "timezone": "browser",
        "time": {"from": "now-24h", "to": "now"},
        "templating": {"list": templating},
        "annotations": {"list": annotations or []},
        # every board with the tag, the variables and time range carried over
        "links": [
            {
                "title": "Campaign dashboards",
                "type": "dashboards",
                "tags": [TAG],
                "asDropdown": False,
                "includeVars": True,
                "keepTime": True,
                "targetBlank": False,
                "icon": "external link",
                "tooltip": "",
                "url": "",
            }
        ],
        "panels": panels,
    }


def stage(name: str) -> str:
    return f'experiture_campaign_pipeline_records{{{SEL}, stage="{name}"}}'


def records_ratio(numerator: str, denominator: str, by: str) -> str:
    """A ratio of the recording rule's per-target sums: filtered by job and instance, and
    the same whether an HA pair counts each campaign twice or not."""
    rule = "instance_source_channel:experiture_campaign_pipeline_records:sum"
    return (
        f'sum by({by}) ({rule}{{{SEL}, stage="{numerator}"}}) / '
        f'(sum by({by}) ({rule}{{{SEL}, stage="{denominator}"}}) > 0)'
    )


def fleet() -> dict[str, Any]:
    state = "experiture_campaign_execution_state"
    running = f'{state}{{{SEL}, state="running"}} == 1'
    overdue = f'{state}{{{SEL}, state="pending_or_overdue"}} == 1'
    failed_recent = (
        f'{state}{{{SEL}, state="failed"}} == 1 and ignoring(state) (time() - '
        f"experiture_campaign_last_execution_completed_timestamp_seconds{{{SEL}}} < 86400)"
    )
    return dashboard(
        "campaign-exporter-fleet",
        "Campaigns / Fleet overview",
        "Every Experiture campaign by state, the sends running now, and the ones failing.",
        [
            panel(
                "stat",
                "Running sends",
                "Campaigns executing now.",
                "none",
                (f"count({merged(running)}) or vector(0)", "running"),
                width=6,
                height=5,
            ),
            panel(
                "stat",
                "Failed in the last 24h",
                "Executions that ended failed today.",
                "none",
                (f"count({merged(failed_recent)}) or vector(0)", "failed"),
                width=6,
                height=5,
                defaults={
                    "thresholds": {
                        "mode": "absolute",
                        "steps": [{"color": "green", "value": None}, {"color": "red", "value": 1}],
                    }
                },
            ),
            panel(
                "stat",
                "Overdue sends",
                "Send time passed, execution not started.",
                "none",
                (f"count({merged(overdue)}) or vector(0)", "overdue"),
                width=6,
                height=5,
            ),
            panel(
                "stat",
                "Records in flight",
                "Records scheduled but not yet sent or failed, over running sends.",
                "short",
                (
                    "sum("
                    + merged(
                        f"({stage('scheduled')} - ignoring(stage) {stage('sent')} "
                        f"- ignoring(stage) {stage('failed')}) and ignoring(state) ({running})"
                    )
                    + ") or vector(0)",
                    "in flight",
                ),
                width=6,
                height=5,
            ),
            panel(
                "timeseries",
                "Campaigns by state",
                "How many campaigns are in each state.",
                "none",
                (f"sum by(state) ({per_shard(f'experiture_campaigns{{{SEL}}}')})", "{{state}}"),
            ),
            panel(
                "timeseries",
                "Failure ratio by channel",
                "Failed over scheduled records, across every campaign of a channel (from the "
                "recording rule instance_source_channel:experiture_campaign_pipeline_records:sum).",
                "percentunit",
                (records_ratio("failed", "scheduled", "source, channel"), "{{source}} {{channel}}"),
            ),
            campaign_table(
                "Worst failure ratios",
                "The 20 campaigns losing the largest share of their records; a row opens the "
                "campaign.",
                "percentunit",
                "topk(20, "
                + joined(f"experiture_campaign_failure_ratio{{{SEL}}}", "name, channel")
                + ")",
                "failure ratio",
            ),
        ],
        variables(source_var("experiture_campaigns")),
        [failures("Campaign failures", "CampaignExecutionFailed")],
    )


def campaign_picker() -> dict[str, Any]:
    """Campaigns of both vendors by name, the id as the value: Grafana renders each result
    as ``{campaign_id="…",name="…"} 1 <ms>`` and the regex's named groups pick text and
    value."""
    info = " or ".join(
        f"max by(campaign_id, name) ({vendor}_campaign_info{{{SEL}}})"
        for vendor in ("experiture", "greenarrow")
    )
    return query_var(
        "campaign",
        "Campaign",
        f"query_result({info})",
        multi=False,
        regex='/campaign_id="(?<value>.*?)",name="(?<text>.*)"\\}/',
    )


def campaign() -> dict[str, Any]:
    state = (
        f"experiture_campaign_execution_state{{{ONE}}} == 1 "
        f"or greenarrow_campaign_state{{{ONE}}} == 1"
    )
    updated = (
        f"experiture_campaign_last_updated_timestamp_seconds{{{ONE}}} "
        f"or greenarrow_campaign_last_updated_timestamp_seconds{{{ONE}}}"
    )
    ga = "greenarrow_campaign_"

    def ga_ratio(numerator: str, denominator: str) -> str:
        return merged(f"{ga}{numerator}{{{ONE}}} / ({ga}{denominator}{{{ONE}}} > 0)")

    return dashboard(
        CAMPAIGN_UID,
        "Campaigns / Campaign detail",
        "One campaign of either vendor: state over time; for Experiture its pipeline funnel "
        "and failure ratio, for GreenArrow its messages and deliverability.",
        [
            panel(
                "state-timeline",
                "State over time",
                "The campaign's state (Experiture execution state or GreenArrow state).",
                "none",
                (merged(state), "{{state}}"),
                width=12,
                height=4,
            ),
            panel(
                "stat",
                "Data age",
                "Seconds since this campaign was last read by any replica.",
                "s",
                (f"time() - {merged(updated)}", "age"),
                width=6,
                height=4,
            ),
            panel(
                "stat",
                "Scheduled send",
                "Experiture: when the send is due from (sendAt, or the start of a batch day).",
                "dateTimeAsIso",
                (
                    merged(f"experiture_campaign_scheduled_send_timestamp_seconds{{{ONE}}}")
                    + " * 1000",
                    "send at",
                ),
                width=6,
                height=4,
            ),
            panel(
                "bargauge",
                "Funnel",
                "Experiture: records at each pipeline stage of the last execution.",
                "short",
                (merged(f"experiture_campaign_pipeline_records{{{ONE}}}"), "{{stage}}"),
                width=12,
                height=8,
                orientation="horizontal",
                displayMode="gradient",
            ),
            panel(
                "stat",
                "Failure ratio",
                "Experiture: failed over scheduled records.",
                "percentunit",
                (merged(f"experiture_campaign_failure_ratio{{{ONE}}}"), "failure ratio"),
                width=12,
                height=8,
            ),
            panel(
                "timeseries",
                "Pipeline over time",
                "Experiture: records at each stage, over time.",
                "short",
                (merged(f"experiture_campaign_pipeline_records{{{ONE}}}"), "{{stage}}"),
                width=24,
            ),
            panel(
                "timeseries",
                "Messages",
                "GreenArrow: messages sent, accepted by the remote server, bounced, and still "
                "in the local queue.",
                "short",
                (merged(f"{ga}messages_sent_total{{{ONE}}}"), "sent"),
                (merged(f"{ga}messages_accepted_total{{{ONE}}}"), "accepted"),
                (merged(f"{ga}messages_bounced_total{{{ONE}}}"), "bounced"),
                (merged(f"{ga}messages_queued{{{ONE}}}"), "in queue"),
            ),
            panel(
                "timeseries",
                "Deliverability",
                "GreenArrow: bounces over sent messages; complaints, unique opens and unique "
                "clicks over accepted ones.",
                "percentunit",
                (ga_ratio("bounces_total", "messages_sent_total"), "bounce rate"),
                (ga_ratio("complaints_total", "messages_accepted_total"), "complaint rate"),
                (ga_ratio("unique_opens_total", "messages_accepted_total"), "open rate"),
                (ga_ratio("unique_clicks_total", "messages_accepted_total"), "click rate"),
            ),
            panel(
                "table",
                "Setup",
                "Experiture: name, channel, type and authoring status. GreenArrow: name, "
                "organization and mailing list.",
                "none",
                (
                    merged(
                        f"experiture_campaign_info{{{ONE}}} or greenarrow_campaign_info{{{ONE}}}"
                    ),
                    "",
                ),
                width=24,
                height=5,
            ),
        ],
        variables(source_var("campaign_exporter_source_up"), campaign_picker()),
        [failures("This campaign's alerts", ".+", 'source=~"$source", campaign_id="$campaign"')],
    )


def ga_sums(numerator: str, denominator: str, by: str = "organization") -> str:
    """A ratio of the recording rules' per-target sums by organization."""
    rule = "instance_source_organization:greenarrow_campaign_{}:sum"
    return (
        f"sum by({by}) ({rule.format(numerator)}{{{GA_SEL}}}) / "
        f"(sum by({by}) ({rule.format(denominator)}{{{GA_SEL}}}) > 0)"
    )


def ga_ratio(numerator: str, denominator: str, by: str) -> str:
    def part(metric: str) -> str:
        return (
            f"sum by({by}) ("
            + joined(
                f"{metric}{{{SEL}}}",
                "organization, mailing_list",
                "greenarrow_campaign_info",
                GA_SEL,
            )
            + ")"
        )

    return f"{part(numerator)} / ({part(denominator)} > 0)"


def deliverability() -> dict[str, Any]:
    ga = "greenarrow_campaign_"
    by_org = {"sel": GA_SEL, "info": "greenarrow_campaign_info"}
    return dashboard(
        "campaign-exporter-greenarrow",
        "Campaigns / GreenArrow deliverability",
        "Bounce, complaint, open and click rates of GreenArrow campaigns by organization.",
        [
            panel(
                "timeseries",
                "Bounce rate by organization",
                "Bounces over sent messages (from the recording rules "
                "instance_source_organization:greenarrow_campaign_*:sum).",
                "percentunit",
                (ga_sums("bounces_total", "messages_sent_total"), "{{organization}}"),
            ),
            panel(
                "timeseries",
                "Complaint rate by organization",
                "Spam complaints over accepted messages; 0.1% and 0.3% are the mailbox "
                "providers' thresholds.",
                "percentunit",
                (ga_sums("complaints_total", "messages_accepted_total"), "{{organization}}"),
                defaults={
                    "thresholds": {
                        "mode": "absolute",
                        "steps": [
                            {"color": "green", "value": None},
                            {"color": "orange", "value": 0.001},
                            {"color": "red", "value": 0.003},
                        ],
                    },
                    "custom": {"thresholdsStyle": {"mode": "line"}},
                },
            ),
            panel(
                "timeseries",
                "Open rate by organization",
                "Unique opens over accepted messages.",
                "percentunit",
                (ga_sums("unique_opens_total", "messages_accepted_total"), "{{organization}}"),
            ),
            panel(
                "timeseries",
                "Click rate by organization",
                "Unique clicks over accepted messages.",
                "percentunit",
                (ga_sums("unique_clicks_total", "messages_accepted_total"), "{{organization}}"),
            ),
            panel(
                "timeseries",
                "Messages sent per second",
                "Send rate by organization.",
                "cps",
                (
                    "sum by(organization) ("
                    + joined(
                        f"rate({ga}messages_sent_total{{{SEL}}}[$__rate_interval])",
                        "organization",
                        **by_org,
                    )
                    + ")",
                    "{{organization}}",
                ),
            ),
            panel(
                "timeseries",
                "Messages in queue",
                "Messages waiting in the local queue, by organization.",
                "short",
                (
                    "sum by(organization) ("
                    + joined(f"{ga}messages_queued{{{SEL}}}", "organization", **by_org)
                    + ")",
                    "{{organization}}",
                ),
            ),
            panel(
                "table",
                "Bounce rate by mailing list",
                "Bounces over sent messages, per organization and mailing list.",
                "percentunit",
                (
                    ga_ratio(
                        f"{ga}bounces_total",
                        f"{ga}messages_sent_total",
                        "organization, mailing_list",
                    ),
                    "",
                ),
            ),
            panel(
                "bargauge",
                "Bounces by class",
                "Bounces of the campaigns in view by class: hard (a stale list), soft (a "
                "receiving-side problem) and other.",
                "short",
                (
                    "sum by(class) ("
                    + joined(f"{ga}classified_bounces_total{{{SEL}}}", "organization", **by_org)
                    + ")",
                    "{{class}}",
                ),
                orientation="horizontal",
            ),
            campaign_table(
                "Campaigns bouncing most",
                "The 20 campaigns (of 100 messages sent or more) with the highest bounce rate; a "
                "row opens the campaign.",
                "percentunit",
                "topk(20, "
                + joined(
                    f"{ga}bounces_total{{{SEL}}} / ({ga}messages_sent_total{{{SEL}}} >= 100)",
                    "name, organization, mailing_list",
                    **by_org,
                )
                + ")",
                "bounce rate",
                width=12,
            ),
            panel(
                "bargauge",
                "Campaigns by state",
                "GreenArrow campaigns in each state.",
                "none",
                (f"sum by(state) ({per_shard(f'greenarrow_campaigns{{{SEL}}}')})", "{{state}}"),
                orientation="horizontal",
            ),
        ],
        variables(
            source_var("greenarrow_campaigns"),
            query_var(
                "organization",
                "Organization",
                f"label_values(greenarrow_campaign_info{{{SEL}}}, organization)",
            ),
        ),
        [failures("GreenArrow campaign failures", "GreenArrowCampaignFailed")],
    )


def health() -> dict[str, Any]:
    return dashboard(
        "campaign-exporter-health",
        "Campaigns / Exporter health",
        "Is each exporter replica reading its sources: refreshes, reads against the request "
        "budget, upstream traffic, rate limiting.",
        [
            panel(
                "stat",
                "Sources up",
                "1 when the last refresh of the source succeeded.",
                "bool_yes_no",
                (f"campaign_exporter_source_up{{{SEL}}}", "{{instance}} {{source}}"),
                width=6,
                height=5,
            ),
            panel(
                "stat",
                "Campaigns exported",
                "Campaigns each source exports now.",
                "none",
                (f"campaign_exporter_source_campaigns{{{SEL}}}", "{{instance}} {{source}}"),
                width=6,
                height=5,
            ),
            panel(
                "stat",
                "Campaigns not read yet",
                "Listed campaigns whose state has not been read yet: how complete the picture "
                "is. Readiness does not wait for it.",
                "none",
                (f"campaign_exporter_source_campaigns_unread{{{SEL}}}", "{{instance}} {{source}}"),
                width=6,
                height=5,
            ),
            panel(
                "stat",
                "Config reload",
                "1 when the last config (re)load succeeded.",
                "bool_yes_no",
                (f"campaign_exporter_config_last_reload_successful{{{NODE}}}", "{{instance}}"),
                width=6,
                height=5,
            ),
            panel(
                "timeseries",
                "Refresh duration",
                "Wall time of each source's last refresh.",
                "s",
                (
                    f"campaign_exporter_source_refresh_duration_seconds{{{SEL}}}",
                    "{{instance}} {{source}}",
                ),
            ),
            panel(
                "timeseries",
                "Data age and poll interval",
                "Seconds since each source's last good refresh, beside its poll interval: "
                "an age of several intervals is CampaignExporterDataStale.",
                "s",
                (
                    f"time() - campaign_exporter_source_last_success_timestamp_seconds{{{SEL}}}",
                    "{{instance}} {{source}}",
                ),
                (
                    "max by(job, instance, source, source_type) "
                    f"(campaign_exporter_source_poll_interval_seconds{{{SEL}}})",
                    "{{instance}} {{source}} poll interval ({{source_type}})",
                ),
            ),
            panel(
                "timeseries",
                "Running campaigns' state age",
                "The longest time since the execution state of a campaign last seen active "
                "(running, sending, overdue) was read, beside twice the poll interval: above it "
                "on every replica of a shard is CampaignExporterFallingBehind.",
                "s",
                (
                    f"campaign_exporter_source_running_state_age_seconds{{{SEL}}}",
                    "{{instance}} {{source}}",
                ),
                (
                    "2 * max by(job, instance, source, source_type) "
                    f"(campaign_exporter_source_poll_interval_seconds{{{SEL}}})",
                    "{{instance}} {{source}} twice the poll interval",
                ),
            ),
            panel(
                "timeseries",
                "Reads by urgency",
                "Reads per second (a listing walk; one campaign's status, counts or setup; a "
                "report window), by urgency: where the request budget goes.",
                "rps",
                (
                    "sum by(instance, source, urgency) "
                    f"(rate(campaign_exporter_source_reads_total{{{SEL}}}[$__rate_interval]))",
                    "{{instance}} {{source}} {{urgency}}",
                ),
            ),
            panel(
                "timeseries",
                "Reads waiting for budget",
                "Reads whose due time has come and that still wait for budget, by urgency: the "
                "budget is spent on active first, then unread, detail, settling and idle.",
                "short",
                (
                    f"campaign_exporter_source_reads_due{{{SEL}}}",
                    "{{instance}} {{source}} {{urgency}}",
                ),
            ),
            panel(
                "timeseries",
                "Oldest wait for budget",
                "How long the oldest waiting read of each urgency is past its due time (0 when "
                "none waits).",
                "s",
                (
                    f"campaign_exporter_source_reads_oldest_wait_seconds{{{SEL}}}",
                    "{{instance}} {{source}} {{urgency}}",
                ),
            ),
            panel(
                "timeseries",
                "Upstream requests by code",
                "Requests per second to the upstream APIs, by HTTP status.",
                "reqps",
                (
                    "sum by(instance, source, code) "
                    f"(rate(campaign_exporter_upstream_requests_total{{{SEL}}}[$__rate_interval]))",
                    "{{instance}} {{source}} {{code}}",
                ),
            ),
            panel(
                "timeseries",
                "Upstream errors by reason",
                "Failed upstream requests per second, by reason.",
                "reqps",
                (
                    "sum by(instance, source, reason) "
                    f"(rate(campaign_exporter_upstream_errors_total{{{SEL}}}[$__rate_interval]))",
                    "{{instance}} {{source}} {{reason}}",
                ),
            ),
            panel(
                "timeseries",
                "Rate limiting",
                "Answers of 429 per second.",
                "reqps",
                (
                    f"sum by(instance, source) (rate(campaign_exporter_upstream_rate_limited_total"
                    f"{{{SEL}}}[$__rate_interval]))",
                    "{{instance}} {{source}}",
                ),
            ),
            panel(
                "timeseries",
                "Memory",
                "Resident memory of each replica.",
                "bytes",
                (f"process_resident_memory_bytes{{{NODE}}}", "{{instance}}"),
            ),
        ],
        variables(source_var("campaign_exporter_source_up")),
    )


DASHBOARDS = {
    "fleet-overview.json": fleet,
    "campaign-detail.json": campaign,
    "greenarrow-deliverability.json": deliverability,
    "exporter-health.json": health,
}


def render(build: Any) -> str:
    return json.dumps(build(), indent=2, sort_keys=True) + "\n"


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name, build in DASHBOARDS.items():
        (OUT / name).write_text(render(build))
        print(f"wrote {OUT / name}")


if __name__ == "__main__":
    main()
