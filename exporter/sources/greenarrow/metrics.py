"""GreenArrow campaign snapshots rendered as metric families.

Cumulative stats that only grow are counters (``_total``) so ``rate()`` works;
point-in-time values (recipients, remaining, queued) are gauges.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from ...books.ledger import Entry
from ...exposition.render import Kind, MetricFamily
from ..by_state import render_by_state
from .model import STATES, GACampaignSnapshot

POLLED = (
    " Polled in the background every poll_interval of the source "
    "(campaign_exporter_source_poll_interval_seconds)."
)
ID = ("source", "campaign_id")

STATE = "greenarrow_campaign_state"
PAUSED = "greenarrow_campaign_paused"
INFO = "greenarrow_campaign_info"
FIRST_SEEN = "greenarrow_campaign_first_seen_timestamp_seconds"
STATE_FIRST_SEEN = "greenarrow_campaign_state_first_seen_timestamp_seconds"
STARTED_AFTER = "greenarrow_campaign_started_after_timestamp_seconds"
UPDATED = "greenarrow_campaign_last_updated_timestamp_seconds"
CAMPAIGNS = "greenarrow_campaigns"


# (stats group, field) -> (family, type, help, extra label): every documented field.
STAT_METRICS: dict[tuple[str, str], tuple[str, Kind, str, tuple[str, str] | None]] = {
    ("recipients", "total"): (
        "greenarrow_campaign_recipients",
        "gauge",
        "Recipients the campaign addresses.",
        None,
    ),
    ("recipients", "sent"): (
        "greenarrow_campaign_recipients_sent_total",
        "counter",
        "Recipients sent to.",
        None,
    ),
    ("recipients", "skip"): (
        "greenarrow_campaign_recipients_skipped_total",
        "counter",
        "Recipients skipped.",
        None,
    ),
    ("recipients", "remaining"): (
        "greenarrow_campaign_recipients_remaining",
        "gauge",
        "Recipients not yet sent to or skipped.",
        None,
    ),
    ("sent", "total"): (
        "greenarrow_campaign_messages_sent_total",
        "counter",
        "Messages sent.",
        None,
    ),
    ("sent", "accepted"): (
        "greenarrow_campaign_messages_accepted_total",
        "counter",
        "Messages accepted by the remote SMTP server.",
        None,
    ),
    ("sent", "bounced"): (
        "greenarrow_campaign_messages_bounced_total",
        "counter",
        "Messages bounced.",
        None,
    ),
    ("sent", "in_queue"): (
        "greenarrow_campaign_messages_queued",
        "gauge",
        "Messages still in the local queue.",
        None,
    ),
    ("skip", "ssr_failure"): (
        "greenarrow_campaign_ssr_skips_total",
        "counter",
        "Recipients skipped by Special Sending Rules, by reason "
        "(ssr_failure: an error in a rule; ssr_request: a rule asked).",
        ("reason", "ssr_failure"),
    ),
    ("skip", "ssr_request"): (
        "greenarrow_campaign_ssr_skips_total",
        "counter",
        "",
        ("reason", "ssr_request"),
    ),
    ("open", "total"): (
        "greenarrow_campaign_opens_total",
        "counter",
        "Opens, repeats included.",
        None,
    ),
    ("open", "unique"): (
        "greenarrow_campaign_unique_opens_total",
        "counter",
        "Recipients who opened.",
        None,
    ),
    ("click", "total"): (
        "greenarrow_campaign_clicks_total",
        "counter",
        "Clicks, repeats included.",
        None,
    ),
    ("click", "unique"): (
        "greenarrow_campaign_unique_clicks_total",
        "counter",
        "Recipients who clicked.",
        None,
    ),
    ("bounce", "total"): ("greenarrow_campaign_bounces_total", "counter", "Bounces.", None),
    ("bounce", "unique"): (
        "greenarrow_campaign_unique_bounces_total",
        "counter",
        "Recipients who bounced.",
        None,
    ),
    ("bounce", "hard"): (
        "greenarrow_campaign_classified_bounces_total",
        "counter",
        "Bounces by class (hard, soft, other).",
        ("class", "hard"),
    ),
    ("bounce", "soft"): (
        "greenarrow_campaign_classified_bounces_total",
        "counter",
        "",
        ("class", "soft"),
    ),
    ("bounce", "other"): (
        "greenarrow_campaign_classified_bounces_total",
        "counter",
        "",
        ("class", "other"),
    ),
    ("bounce", "subscribers_updated"): (
        "greenarrow_campaign_bounce_subscribers_updated_total",
        "counter",
        "Subscribers updated (deactivated) because of bounces.",
        None,
    ),
    ("scomp", "total"): (
        "greenarrow_campaign_complaints_total",
        "counter",
        "Spam complaints.",
        None,
    ),
    ("scomp", "unique"): (
        "greenarrow_campaign_unique_complaints_total",
        "counter",
        "Recipients who complained.",
        None,
    ),
    ("scomp", "subscribers_updated"): (
        "greenarrow_campaign_complaint_subscribers_updated_total",
        "counter",
        "Subscribers updated because of spam complaints.",
        None,
    ),
    ("unsub", "total"): (
        "greenarrow_campaign_unsubscribes_total",
        "counter",
        "Unsubscribes.",
        None,
    ),
    ("unsub", "unique"): (
        "greenarrow_campaign_unique_unsubscribes_total",
        "counter",
        "Recipients who unsubscribed.",
        None,
    ),
    ("unsub", "subscribers_updated"): (
        "greenarrow_campaign_unsubscribe_subscribers_updated_total",
        "counter",
        "Subscribers updated because of unsubscribes.",
        None,
    ),
}


def _families() -> dict[str, MetricFamily]:
    fams = {
        STATE: MetricFamily(
            STATE,
            "gauge",
            "Campaign state set: 1 for the current state, 0 for each other documented state "
            "(sending, finished, failed, cancelled); an undocumented value gets its own "
            "series." + POLLED,
            (*ID, "state"),
            state_set=True,
        ),
        PAUSED: MetricFamily(PAUSED, "gauge", "1 when the campaign is paused." + POLLED, ID),
        INFO: MetricFamily(
            INFO,
            "gauge",
            "Campaign attributes as labels; value 1, for joins." + POLLED,
            (*ID, "name", "organization_id", "organization", "mailing_list_id", "mailing_list"),
        ),
        FIRST_SEEN: MetricFamily(
            FIRST_SEEN,
            "gauge",
            "Unix time this exporter first saw the campaign in the report (kept across "
            "restarts with --storage.path, else since it last started): learned, as the "
            "report has no timestamps; this is not when it started." + POLLED,
            ID,
        ),
        STATE_FIRST_SEEN: MetricFamily(
            STATE_FIRST_SEEN,
            "gauge",
            "Unix time this exporter first saw the campaign in its current state; later than "
            "first_seen means it changed state while watched (e.g. failed). Learned: not "
            "when it entered the state; without --storage.path, after a restart, the "
            "restart's first read." + POLLED,
            ID,
        ),
        STARTED_AFTER: MetricFamily(
            STARTED_AFTER,
            "gauge",
            "A lower bound of when the campaign started sending: the start of the report "
            "window (started_at__start) it was found in, re-walked every refresh as windows "
            "of a day, a week and the lookback back from then. A bound, not a timestamp." + POLLED,
            ID,
        ),
        UPDATED: MetricFamily(
            UPDATED,
            "gauge",
            "Unix time this campaign's data was last read successfully." + POLLED,
            ID,
        ),
        CAMPAIGNS: MetricFamily(
            CAMPAIGNS,
            "gauge",
            "Campaigns in the report window, by state." + POLLED,
            ("source", "state"),
        ),
    }
    for name, kind, help_text, extra in STAT_METRICS.values():
        if name not in fams:
            labels = (*ID, extra[0]) if extra else ID
            fams[name] = MetricFamily(name, kind, help_text + POLLED, labels)
    return fams


FAMILY_NAMES = tuple(_families())  # every family a source of this type renders
READ_TIME = _families()[UPDATED]  # what a campaign read again as it was renders anew


def render_campaigns(
    source: str, entries: Iterable[Entry[GACampaignSnapshot]]
) -> list[MetricFamily]:
    """The per-campaign families of these campaigns."""
    fams = _families()
    del fams[CAMPAIGNS]
    for entry in entries:
        c = entry.snapshot
        key = (source, c.campaign_id)
        fams[INFO].add(
            (
                *key,
                c.name or "",
                c.organization_id or "",
                c.organization or "",
                c.mailing_list_id or "",
                c.mailing_list or "",
            ),
            1.0,
        )
        if c.state is not None:
            fams[STATE].add_states(key, STATES, c.state)
        if c.paused is not None:
            fams[PAUSED].add(key, 1.0 if c.paused else 0.0)
        fams[FIRST_SEEN].add(key, entry.first_seen)
        fams[STATE_FIRST_SEEN].add(key, entry.state_since)
        if c.started_after is not None:
            fams[STARTED_AFTER].add(key, c.started_after)
        fams[UPDATED].add(key, entry.updated_at)
        for group, values in c.stats.items():
            for field, value in values.items():
                name, _, _, extra = STAT_METRICS[(group, field)]
                fams[name].add((*key, extra[1]) if extra else key, value)
    return list(fams.values())


def render_totals(source: str, by_state: Mapping[str | None, int]) -> list[MetricFamily]:
    """Campaigns by state, of the source."""
    return [render_by_state(_families()[CAMPAIGNS], source, STATES, by_state)]


def render_families(
    source: str, entries: Iterable[Entry[GACampaignSnapshot]]
) -> list[MetricFamily]:
    """Every family of these campaigns, the source's totals last."""
    entries = list(entries)
    by_state = Counter(e.snapshot.state for e in entries)
    return render_campaigns(source, entries) + render_totals(source, dict(by_state))
