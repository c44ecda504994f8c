"""Experiture campaign records rendered as metric families."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from ...books.ledger import Entry
from ...exposition.render import MetricFamily
from ..by_state import render_by_state
from .model import (
    PREFLIGHT_STATUSES,
    REACH_STATUSES,
    STAGES,
    STATES,
    CampaignSetup,
    Schedule,
)
from .records import CampaignRecord, failure_ratio

POLLED = (
    " Polled in the background: running and overdue campaigns every poll_interval of the "
    "source (campaign_exporter_source_poll_interval_seconds), others less often by state."
)
SUMMARY_POLLED = (
    " From /summary, read in the background when the campaign is new or changes "
    "(every summary_interval when polling.adaptive is off)."
)
ID = ("source", "campaign_id")

INFO = "experiture_campaign_info"
EXECUTION_STATE = "experiture_campaign_execution_state"
PIPELINE_RECORDS = "experiture_campaign_pipeline_records"
FAILURE_RATIO = "experiture_campaign_failure_ratio"
STARTED = "experiture_campaign_last_execution_started_timestamp_seconds"
COMPLETED = "experiture_campaign_last_execution_completed_timestamp_seconds"
SEND_AT = "experiture_campaign_scheduled_send_timestamp_seconds"
DEADLINE = "experiture_campaign_send_deadline_timestamp_seconds"
SCHEDULE = "experiture_campaign_schedule_info"
CONFIGURED = "experiture_campaign_configured"
REACH = "experiture_campaign_audience_reach_records"
REACH_STATUS = "experiture_campaign_audience_reach_status"
REACH_STALE = "experiture_campaign_audience_reach_stale"
PREFLIGHT = "experiture_campaign_preflight_status"
TEMPLATE = "experiture_campaign_template_status"
UPDATED = "experiture_campaign_last_updated_timestamp_seconds"
PROGRESS = "experiture_campaign_pipeline_last_progress_timestamp_seconds"
CAMPAIGNS = "experiture_campaigns"
ANALYTICS = "experiture_analytics_scope_granted"
# 1 for the current value, 0 for each other documented one: sparse drops the zeros
STATE_SETS = frozenset({EXECUTION_STATE, REACH_STATUS, PREFLIGHT})


def _families() -> dict[str, MetricFamily]:
    specs = [
        (
            INFO,
            (*ID, "name", "channel", "campaign_type", "authoring_status"),
            "Campaign attributes as labels; value 1, for joins." + SUMMARY_POLLED,
        ),
        (
            EXECUTION_STATE,
            (*ID, "state"),
            "Execution state set: 1 for the campaign's current execution.state, 0 for each "
            "other documented state; an undocumented value gets its own series." + POLLED,
        ),
        (
            PIPELINE_RECORDS,
            (*ID, "stage"),
            "Records at each pipeline stage of the last execution (from /metrics, or from "
            "/status when the token lacks analytics:read)." + POLLED,
        ),
        (
            FAILURE_RATIO,
            ID,
            "Failed records over scheduled records of the last execution; absent while "
            "nothing is scheduled." + POLLED,
        ),
        (STARTED, ID, "Unix time the last execution started." + POLLED),
        (COMPLETED, ID, "Unix time the last execution completed." + POLLED),
        (
            SEND_AT,
            ID,
            "Unix time the send is due from: schedule.sendAt, or for a date-only batch "
            "(direct mail's batch_on_date) the start of its batchDate in its timezone "
            "(UTC when none)." + POLLED,
        ),
        (
            DEADLINE,
            ID,
            "Unix time after which a send that has not started is late: schedule.sendAt, "
            "or the end of a date-only batch's day in its timezone." + POLLED,
        ),
        (
            SCHEDULE,
            (*ID, "mode", "timezone"),
            "How the send is scheduled: mode at (a sendAt), now, or batch_on_date (a day, no "
            "time); value 1." + POLLED,
        ),
        (
            CONFIGURED,
            ID,
            "1 when an audience is included and a template is set, else 0." + SUMMARY_POLLED,
        ),
        (
            REACH,
            ID,
            "Records in the audience at its last reach evaluation; to be trusted only while "
            "the reach status is ok and it is not stale (pending: not reliable yet; failed: "
            "the prior run's count)." + SUMMARY_POLLED,
        ),
        (
            REACH_STATUS,
            (*ID, "status"),
            "Audience reach evaluation state set: 1 for the current audience.reach.status, 0 "
            "for each other documented one (idle, pending, ok, failed); an undocumented "
            "value gets its own series." + SUMMARY_POLLED,
        ),
        (
            REACH_STALE,
            ID,
            "1 when the audience reach evaluation is stale (audience.reach.isStale)."
            + SUMMARY_POLLED,
        ),
        (
            PREFLIGHT,
            (*ID, "status"),
            "The last readiness (preflight) evaluation's status, from /summary: 1 for the "
            "current value, 0 for not_evaluated when it is another." + SUMMARY_POLLED,
        ),
        (
            TEMPLATE,
            (*ID, "status"),
            "The content template's status (content.template.status); value 1." + SUMMARY_POLLED,
        ),
        (
            UPDATED,
            ID,
            "Unix time this campaign's data was last read successfully; older than the "
            "poll interval means the values shown are the last good ones." + POLLED,
        ),
        (
            PROGRESS,
            (*ID, "stage"),
            "Unix time the stage's record count last changed (as first seen after a "
            "restart), while the campaign runs; a running campaign whose stages all "
            "stopped moving is stalled." + POLLED,
        ),
        (CAMPAIGNS, ("source", "state"), "Campaigns in each execution state." + POLLED),
        (
            ANALYTICS,
            ("source",),
            "1 when the token may read /metrics (analytics:read); 0 when refused and "
            "pipeline counts come from /status.",
        ),
    ]
    return {
        name: MetricFamily(name, "gauge", text, labels, state_set=name in STATE_SETS)
        for name, labels, text in specs
    }


FAMILY_NAMES = tuple(_families())  # every family a source of this type renders
READ_TIME = _families()[UPDATED]  # what a campaign read again as it was renders anew


def render_campaigns(
    source: str, entries: Iterable[Entry[CampaignRecord]], analytics: bool
) -> list[MetricFamily]:
    """The per-campaign families of these campaigns."""
    fams = _families()
    del fams[CAMPAIGNS], fams[ANALYTICS]
    for entry in entries:
        _render_campaign(source, entry.snapshot, entry.updated_at, analytics, fams)
    return list(fams.values())


def render_totals(
    source: str, by_state: Mapping[str | None, int], analytics: bool
) -> list[MetricFamily]:
    """The source's own families: campaigns by state, and whether /metrics is readable."""
    fams = _families()
    campaigns = render_by_state(fams[CAMPAIGNS], source, STATES, by_state)
    granted = fams[ANALYTICS]
    granted.add((source,), 1.0 if analytics else 0.0)
    return [campaigns, granted]


def render_families(
    source: str, entries: Iterable[Entry[CampaignRecord]], analytics: bool
) -> list[MetricFamily]:
    """Every family of these campaigns, the source's totals last."""
    entries = list(entries)
    by_state = Counter(e.snapshot.status.state for e in entries if e.snapshot.status)
    return render_campaigns(source, entries, analytics) + render_totals(
        source, dict(by_state), analytics
    )


def _render_campaign(
    source: str,
    rec: CampaignRecord,
    updated_at: float,
    analytics: bool,
    fams: dict[str, MetricFamily],
) -> None:
    key = (source, rec.campaign_id)
    status, setup = rec.status, rec.setup
    campaign_type = (setup and setup.campaign_type) or ""
    info = (rec.name or "", rec.channel or "", campaign_type, rec.authoring_status or "")
    fams[INFO].add((*key, *info), 1.0)
    fams[UPDATED].add(key, updated_at)
    if status is not None and status.state is not None:
        fams[EXECUTION_STATE].add_states(key, STATES, status.state)
    if status is not None and status.state == "running":  # only a running send can stall
        for stage, when in rec.progress.items():
            fams[PROGRESS].add((*key, stage), when)
    counts = rec.pipeline_counts(analytics)
    if counts:
        for stage in STAGES:
            if stage in counts:
                fams[PIPELINE_RECORDS].add((*key, stage), counts[stage])
        ratio = failure_ratio(counts)
        if ratio is not None:
            fams[FAILURE_RATIO].add(key, ratio)
    if status is not None:
        if status.started_at is not None:
            fams[STARTED].add(key, status.started_at)
        if status.completed_at is not None:
            fams[COMPLETED].add(key, status.completed_at)
    schedule = rec.schedule
    if schedule is not None:
        _render_schedule(key, schedule, fams)
    if setup is not None:
        _render_setup(key, setup, fams)


def _render_schedule(
    key: tuple[str, str], schedule: Schedule, fams: dict[str, MetricFamily]
) -> None:
    if schedule.due_from is not None:
        fams[SEND_AT].add(key, schedule.due_from)
    if schedule.deadline is not None:
        fams[DEADLINE].add(key, schedule.deadline)
    mode = schedule.mode or ("at" if schedule.send_at is not None else "")
    fams[SCHEDULE].add((*key, mode, schedule.timezone or ""), 1.0)


def _render_setup(
    key: tuple[str, str], setup: CampaignSetup, fams: dict[str, MetricFamily]
) -> None:
    if setup.configured is not None:
        fams[CONFIGURED].add(key, 1.0 if setup.configured else 0.0)
    if setup.reach is not None:
        fams[REACH].add(key, setup.reach)
    if setup.reach_status is not None:
        fams[REACH_STATUS].add_states(key, REACH_STATUSES, setup.reach_status)
    if setup.reach_stale is not None:
        fams[REACH_STALE].add(key, 1.0 if setup.reach_stale else 0.0)
    if setup.preflight_status is not None:
        fams[PREFLIGHT].add((*key, setup.preflight_status), 1.0)
        for status in PREFLIGHT_STATUSES:
            if status != setup.preflight_status:
                fams[PREFLIGHT].add((*key, status), 0.0)
    if setup.template_status is not None:
        fams[TEMPLATE].add((*key, setup.template_status), 1.0)
