"""The alerts' thresholds that the status page applies too, each default defined here once:
prometheus/mixin.py builds its ``Config`` defaults from these, and a config file's
``thresholds:`` (the mixin's key names) sets them for the page as a mixin config does for
the alerts. Durations are seconds. Only the standard library: the mixin imports this from
a checkout where the exporter's dependencies may be missing."""

from __future__ import annotations

from dataclasses import dataclass

DAY = 86400.0

FAILURE_RATIO = 0.05  # CampaignHighFailureRatio: failed over scheduled records above this
FAILURE_RATIO_MIN_RECORDS = 100  # ... sends of fewer scheduled records never page
FAILURE_RATIO_COMPLETED_WITHIN = DAY  # ... completed sends count for this long
SEND_OVERDUE_AFTER = 900.0  # CampaignSendOverdue: this long past the send deadline
STALLED_AFTER = 900.0  # CampaignStalled: running with no stage moving for this long
BOUNCE_RATE = 0.05  # the bounce-rate alert: bounced over sent above this
BOUNCE_RATE_MIN_MESSAGES = 1000  # ... campaigns with fewer sent never page
FALLING_BEHIND_POLL_INTERVALS = 2  # CampaignExporterFallingBehind: state this many intervals old


@dataclass(frozen=True)
class Thresholds:
    """The thresholds in force; a config's ``thresholds:`` overrides any of them."""

    failure_ratio: float = FAILURE_RATIO
    failure_ratio_min_records: int = FAILURE_RATIO_MIN_RECORDS
    failure_ratio_completed_within: float = FAILURE_RATIO_COMPLETED_WITHIN
    send_overdue_after: float = SEND_OVERDUE_AFTER
    stalled_after: float = STALLED_AFTER
    bounce_rate: float = BOUNCE_RATE
    bounce_rate_min_messages: int = BOUNCE_RATE_MIN_MESSAGES
    falling_behind_poll_intervals: int = FALLING_BEHIND_POLL_INTERVALS


DEFAULTS = Thresholds()
