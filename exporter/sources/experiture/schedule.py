"""When each Experiture campaign is read again: pure functions of the config, the
campaign's record and the time, so every cadence is a table test."""

from __future__ import annotations

from .config import ExperitureConfig
from .model import TERMINAL_STATES
from .records import CampaignRecord


def cadence(config: ExperitureConfig, record: CampaignRecord, now: float) -> float:
    """Seconds until this campaign's /status is due again, from its state."""
    status = record.status
    assert status is not None, "a cadence follows a /status read"
    interval, plan = config.poll_interval, config.polling
    if not plan.adaptive:
        return interval
    state = status.state
    due_from = record.schedule.due_from if record.schedule else None
    if state == "scheduled" and due_from is not None:
        until_fast = due_from - plan.send_lead - now
        return max(interval, min(plan.scheduled_interval, until_fast))
    if state in TERMINAL_STATES:
        done = status.completed_at
        if done is not None and now - done < plan.settle_for:
            return max(interval, plan.settle_interval)
        return max(interval, plan.idle_interval)
    if state == "not_scheduled":
        return max(interval, plan.idle_interval)
    return interval  # running, pending_or_overdue, and anything undocumented


def setup_due(config: ExperitureConfig, record: CampaignRecord, monotonic: float) -> bool:
    """Whether /summary is due: never read, edited since, or (not adaptive) stale."""
    if record.setup is None or record.setup_read is None:
        return True
    if record.listing and record.listing.updated_at != record.setup_version:
        return True
    if config.polling.adaptive and record.listing is not None:
        return False  # discovery tells when it changed
    return monotonic - record.setup_read >= config.summary_interval
