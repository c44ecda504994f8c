"""The Grafana dashboards as code: ``python grafana/dashboards.py`` writes dashboards/*.json.

A test rebuilds them and compares with the committed files, and checks the house rules
(explicit uid, a datasource variable on every panel, job/instance variables, units and a
description on every panel, $__rate_interval in every range, not editable).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).parent / "dashboards"
DS = {"type": "prometheus", "uid": "${datasource}"}
SEL = 'job=~"$job", instance=~"$instance", source=~"$source"'
GA_SEL = SEL + ', organization=~"$organization"'

Panel = dict[str, Any]


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
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "fieldConfig": {"defaults": {"unit": unit, **options.pop("defaults", {})}, "overrides": []},
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
    }


def query_var(name: str, label: str, query: str, multi: bool = True) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DS,
        "query": {"query": query, "refId": name},
        "definition": query,
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
    return query_var(
        "source", "Source", f'label_values({metric}{{job=~"$job", instance=~"$instance"}}, source)'
    )


def dashboard(
    uid: str, title: str, description: str, panels: list[Panel], templating: list[dict[str, Any]]
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
        "tags": ["campaign-exporter"],
        "editable": False,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "1m",
        "timezone": "browser",
        "time": {"from": "now-24h", "to": "now"},
        "templating": {"list": templating},
        "annotations": {"list": []},
        "links": [],
        "panels": panels,
    }


def with_info(expr: str, labels: str, info: str = "experiture_campaign_info") -> str:
    return f"{expr} * on(source, campaign_id) group_left({labels}) {info}{{{SEL}}}"


def stage(name: str) -> str:
    return f'experiture_campaign_pipeline_records{{{SEL}, stage="{name}"}}'


def fleet() -> dict[str, Any]:
    running = f'experiture_campaign_execution_state{{{SEL}, state="running"}} == 1'
    failed_recent = (
        f'experiture_campaign_execution_state{{{SEL}, state="failed"}} == 1 '
        f"and on(source, campaign_id) (time() - "
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
                (f"count({running}) or vector(0)", "running"),
                width=6,
                height=5,
            ),
            panel(
                "stat",
                "Failed in the last 24h",
                "Executions that ended failed today.",
                "none",
                (f"count({failed_recent}) or vector(0)", "failed"),
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
                (f'sum(experiture_campaigns{{{SEL}, state="pending_or_overdue"}})', "overdue"),
                width=6,
                height=5,
            ),
            panel(
                "stat",
                "Records in flight",
                "Records scheduled but not yet sent or failed, over running sends.",
                "short",
                (
                    f"sum(({stage('scheduled')} - ignoring(stage) {stage('sent')} "
                    f"- ignoring(stage) {stage('failed')})"
                    f" and on(source, campaign_id) ({running})) or vector(0)",
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
                (f"sum by(state) (experiture_campaigns{{{SEL}}})", "{{state}}"),
            ),
            panel(
                "timeseries",
                "Failure ratio by channel",
                "Failed over scheduled records, across every campaign of a channel "
                "(recording rule source_channel:experiture_pipeline_failure:ratio).",
                "percentunit",
                (
                    'source_channel:experiture_pipeline_failure:ratio{source=~"$source"}',
                    "{{source}} {{channel}}",
                ),
            ),
            panel(
                "table",
                "Worst failure ratios",
                "The 20 campaigns losing the largest share of their records.",
                "percentunit",
                (
                    "topk(20, "
                    + with_info(f"experiture_campaign_failure_ratio{{{SEL}}}", "name, channel")
                    + ")",
                    "",
                ),
                width=24,
            ),
        ],
        variables(source_var("experiture_campaigns")),
    )


def campaign() -> dict[str, Any]:
    one = f'{SEL}, campaign_id="$campaign"'
    return dashboard(
        "campaign-exporter-campaign",
        "Campaigns / Campaign detail",
        "One Experiture campaign: its pipeline funnel, state over time and failure ratio.",
        [
            panel(
                "bargauge",
                "Funnel",
                "Records at each pipeline stage of the last execution.",
                "short",
                (f"experiture_campaign_pipeline_records{{{one}}}", "{{stage}}"),
                width=12,
                height=8,
                orientation="horizontal",
                displayMode="gradient",
            ),
            panel(
                "stat",
                "Failure ratio",
                "Failed over scheduled records.",
                "percentunit",
                (f"experiture_campaign_failure_ratio{{{one}}}", "failure ratio"),
                width=4,
                height=4,
            ),
            panel(
                "stat",
                "Scheduled send",
                "schedule.sendAt of the campaign.",
                "dateTimeAsIso",
                (
                    f"experiture_campaign_scheduled_send_timestamp_seconds{{{one}}} * 1000",
                    "send at",
                ),
                width=4,
                height=4,
            ),
            panel(
                "stat",
                "Data age",
                "Seconds since this campaign was last read.",
                "s",
                (f"time() - experiture_campaign_last_updated_timestamp_seconds{{{one}}}", "age"),
                width=4,
                height=4,
            ),
            panel(
                "state-timeline",
                "State over time",
                "The execution state, over time.",
                "none",
                (f"experiture_campaign_execution_state{{{one}}} == 1", "{{state}}"),
                width=12,
                height=4,
            ),
            panel(
                "timeseries",
                "Pipeline over time",
                "Records at each stage, over time.",
                "short",
                (f"experiture_campaign_pipeline_records{{{one}}}", "{{stage}}"),
                width=24,
            ),
            panel(
                "table",
                "Setup",
                "Name, channel, type and authoring status.",
                "none",
                (f"experiture_campaign_info{{{one}}}", ""),
                width=24,
                height=5,
            ),
        ],
        variables(
            source_var("experiture_campaigns"),
            query_var(
                "campaign",
                "Campaign",
                'label_values(experiture_campaign_info{source=~"$source"}, campaign_id)',
                multi=False,
            ),
        ),
    )


def ga_ratio(numerator: str, denominator: str, by: str) -> str:
    def part(metric: str) -> str:
        return (
            f"sum by({by}) ({metric}{{{SEL}}} * on(source, campaign_id) "
            f"group_left(organization, mailing_list) greenarrow_campaign_info{{{GA_SEL}}})"
        )

    return f"{part(numerator)} / ({part(denominator)} > 0)"


def deliverability() -> dict[str, Any]:
    org = 'source=~"$source", organization=~"$organization"'
    return dashboard(
        "campaign-exporter-greenarrow",
        "Campaigns / GreenArrow deliverability",
        "Bounce, complaint, open and click rates of GreenArrow campaigns by organization.",
        [
            panel(
                "timeseries",
                "Bounce rate by organization",
                "Bounces over sent messages (recording rule "
                "source_organization:greenarrow_bounce:ratio).",
                "percentunit",
                (f"source_organization:greenarrow_bounce:ratio{{{org}}}", "{{organization}}"),
            ),
            panel(
                "timeseries",
                "Complaint rate by organization",
                "Spam complaints over accepted messages; 0.1% and 0.3% are the mailbox "
                "providers' thresholds.",
                "percentunit",
                (f"source_organization:greenarrow_complaint:ratio{{{org}}}", "{{organization}}"),
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
                (
                    ga_ratio(
                        "greenarrow_campaign_unique_opens_total",
                        "greenarrow_campaign_messages_accepted_total",
                        "organization",
                    ),
                    "{{organization}}",
                ),
            ),
            panel(
                "timeseries",
                "Click rate by organization",
                "Unique clicks over accepted messages.",
                "percentunit",
                (
                    ga_ratio(
                        "greenarrow_campaign_unique_clicks_total",
                        "greenarrow_campaign_messages_accepted_total",
                        "organization",
                    ),
                    "{{organization}}",
                ),
            ),
            panel(
                "timeseries",
                "Messages sent per second",
                "Send rate by organization.",
                "cps",
                (
                    f"sum by(organization) (rate(greenarrow_campaign_messages_sent_total{{{SEL}}}"
                    "[$__rate_interval]) * on(source, campaign_id) group_left(organization) "
                    f"greenarrow_campaign_info{{{GA_SEL}}})",
                    "{{organization}}",
                ),
            ),
            panel(
                "timeseries",
                "Messages in queue",
                "Messages waiting in the local queue, by organization.",
                "short",
                (
                    f"sum by(organization) (greenarrow_campaign_messages_queued{{{SEL}}} "
                    "* on(source, campaign_id) group_left(organization) "
                    f"greenarrow_campaign_info{{{GA_SEL}}})",
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
                        "greenarrow_campaign_bounces_total",
                        "greenarrow_campaign_messages_sent_total",
                        "organization, mailing_list",
                    ),
                    "",
                ),
            ),
            panel(
                "bargauge",
                "Campaigns by state",
                "GreenArrow campaigns in each state.",
                "none",
                (f"sum by(state) (greenarrow_campaigns{{{SEL}}})", "{{state}}"),
                orientation="horizontal",
            ),
        ],
        variables(
            source_var("greenarrow_campaigns"),
            query_var(
                "organization",
                "Organization",
                'label_values(greenarrow_campaign_info{source=~"$source"}, organization)',
            ),
        ),
    )


def health() -> dict[str, Any]:
    sel = SEL
    node = 'job=~"$job", instance=~"$instance"'
    return dashboard(
        "campaign-exporter-health",
        "Campaigns / Exporter health",
        "Is the exporter reading its sources: refreshes, upstream traffic, rate limiting.",
        [
            panel(
                "stat",
                "Sources up",
                "1 when the last refresh of the source succeeded.",
                "bool_yes_no",
                (f"campaign_exporter_source_up{{{sel}}}", "{{source}}"),
                width=8,
                height=5,
            ),
            panel(
                "stat",
                "Campaigns exported",
                "Campaigns each source exports now.",
                "none",
                (f"campaign_exporter_source_campaigns{{{sel}}}", "{{source}}"),
                width=8,
                height=5,
            ),
            panel(
                "stat",
                "Config reload",
                "1 when the last config (re)load succeeded.",
                "bool_yes_no",
                (f"campaign_exporter_config_last_reload_successful{{{node}}}", "{{instance}}"),
                width=8,
                height=5,
            ),
            panel(
                "timeseries",
                "Refresh duration",
                "Wall time of each source's last refresh.",
                "s",
                (f"campaign_exporter_source_refresh_duration_seconds{{{sel}}}", "{{source}}"),
            ),
            panel(
                "timeseries",
                "Data age",
                "Seconds since each source's last good refresh.",
                "s",
                (
                    f"time() - campaign_exporter_source_last_success_timestamp_seconds{{{sel}}}",
                    "{{source}}",
                ),
            ),
            panel(
                "timeseries",
                "Upstream requests by code",
                "Requests per second to the upstream APIs, by HTTP status.",
                "reqps",
                (
                    f"sum by(source, code) (rate(campaign_exporter_upstream_requests_total"
                    f"{{{sel}}}[$__rate_interval]))",
                    "{{source}} {{code}}",
                ),
            ),
            panel(
                "timeseries",
                "Upstream errors by reason",
                "Failed upstream requests per second, by reason.",
                "reqps",
                (
                    f"sum by(source, reason) (rate(campaign_exporter_upstream_errors_total"
                    f"{{{sel}}}[$__rate_interval]))",
                    "{{source}} {{reason}}",
                ),
            ),
            panel(
                "timeseries",
                "Rate limiting",
                "Answers of 429 per second.",
                "reqps",
                (
                    f"sum by(source) (rate(campaign_exporter_upstream_rate_limited_total"
                    f"{{{sel}}}[$__rate_interval]))",
                    "{{source}}",
                ),
            ),
            panel(
                "timeseries",
                "Memory",
                "Resident memory of the exporter.",
                "bytes",
                (f"process_resident_memory_bytes{{{node}}}", "{{instance}}"),
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
