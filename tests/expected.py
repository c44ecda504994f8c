"""What the tests expect, written out: metric names, label values and the stats mapping as
the README documents them. Never read from the production tables they check."""

from __future__ import annotations

EXPERITURE_STATES = (
    "not_scheduled",
    "scheduled",
    "pending_or_overdue",
    "running",
    "completed",
    "failed",
)
EXPERITURE_STAGES = ("scheduled", "hydrated", "composed", "injected", "sent", "failed")
GREENARROW_STATES = ("sending", "finished", "failed", "cancelled")

# (stats group, field) -> (family, type, extra label or None): every documented field.
GREENARROW_STATS: dict[tuple[str, str], tuple[str, str, tuple[str, str] | None]] = {
    ("recipients", "total"): ("greenarrow_campaign_recipients", "gauge", None),
    ("recipients", "sent"): ("greenarrow_campaign_recipients_sent_total", "counter", None),
    ("recipients", "skip"): ("greenarrow_campaign_recipients_skipped_total", "counter", None),
    ("recipients", "remaining"): ("greenarrow_campaign_recipients_remaining", "gauge", None),
    ("sent", "total"): ("greenarrow_campaign_messages_sent_total", "counter", None),
    ("sent", "accepted"): ("greenarrow_campaign_messages_accepted_total", "counter", None),
    ("sent", "bounced"): ("greenarrow_campaign_messages_bounced_total", "counter", None),
    ("sent", "in_queue"): ("greenarrow_campaign_messages_queued", "gauge", None),
    ("skip", "ssr_failure"): (
        "greenarrow_campaign_ssr_skips_total",
        "counter",
        ("reason", "ssr_failure"),
    ),
    ("skip", "ssr_request"): (
        "greenarrow_campaign_ssr_skips_total",
        "counter",
        ("reason", "ssr_request"),
    ),
    ("open", "total"): ("greenarrow_campaign_opens_total", "counter", None),
    ("open", "unique"): ("greenarrow_campaign_unique_opens_total", "counter", None),
    ("click", "total"): ("greenarrow_campaign_clicks_total", "counter", None),
    ("click", "unique"): ("greenarrow_campaign_unique_clicks_total", "counter", None),
    ("bounce", "total"): ("greenarrow_campaign_bounces_total", "counter", None),
    ("bounce", "unique"): ("greenarrow_campaign_unique_bounces_total", "counter", None),
    ("bounce", "hard"): (
        "greenarrow_campaign_classified_bounces_total",
        "counter",
        ("class", "hard"),
    ),
    ("bounce", "soft"): (
        "greenarrow_campaign_classified_bounces_total",
        "counter",
        ("class", "soft"),
    ),
    ("bounce", "other"): (
        "greenarrow_campaign_classified_bounces_total",
        "counter",
        ("class", "other"),
    ),
    ("bounce", "subscribers_updated"): (
        "greenarrow_campaign_bounce_subscribers_updated_total",
        "counter",
        None,
    ),
    ("scomp", "total"): ("greenarrow_campaign_complaints_total", "counter", None),
    ("scomp", "unique"): ("greenarrow_campaign_unique_complaints_total", "counter", None),
    ("scomp", "subscribers_updated"): (
        "greenarrow_campaign_complaint_subscribers_updated_total",
        "counter",
        None,
    ),
    ("unsub", "total"): ("greenarrow_campaign_unsubscribes_total", "counter", None),
    ("unsub", "unique"): ("greenarrow_campaign_unique_unsubscribes_total", "counter", None),
    ("unsub", "subscribers_updated"): (
        "greenarrow_campaign_unsubscribe_subscribers_updated_total",
        "counter",
        None,
    ),
}
