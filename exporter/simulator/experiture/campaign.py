"""One simulated Experiture campaign: its state, pipeline counts and schedule, each a pure
function of the simulated clock."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

# The seed's pipeline counts, in the order its examples list them.
STAGES = ("scheduled", "hydrated", "composed", "injected", "sent", "failed")
STAGE_LAG = 0.05  # each pipeline stage trails the one before by this share of the run


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class SimCampaign:
    campaign_id: str
    name: str
    channel: str
    campaign_type: str
    authoring_status: str
    created_at: float
    updated_at: float
    send_at: float | None
    start_delay: float
    duration: float
    audience: int
    losses: tuple[float, float, float, float]
    stuck: float = 0.0
    fail_at: float | None = None
    has_audience: bool = True
    has_template: bool = True
    deleted: bool = False
    mode: str = "at"  # at, now or batch_on_date
    timezone: str = "America/New_York"
    reach_status: str = "ok"
    reach_stale: bool = False

    def batch_date(self) -> str | None:
        """The day of a ``batch_on_date`` send, in its time zone."""
        if self.mode != "batch_on_date" or self.send_at is None:
            return None
        return datetime.fromtimestamp(self.send_at, ZoneInfo(self.timezone)).date().isoformat()

    def schedule(self, now: float) -> dict[str, Any] | None:
        """The summary's schedule fields for this mode."""
        if self.send_at is None:
            return None
        fields: dict[str, Any] = {"mode": self.mode, "timezone": self.timezone}
        if self.mode == "at":
            fields["sendAt"] = iso(self.send_at)
        elif self.mode == "batch_on_date":
            fields["batchDate"] = self.batch_date()
        return fields

    @property
    def start(self) -> float | None:
        return None if self.send_at is None else self.send_at + self.start_delay

    def progress(self, now: float) -> float | None:
        start = self.start
        if start is None or now < start:
            return None
        p = (now - start) / self.duration
        if self.fail_at is not None:
            p = min(p, self.fail_at)
        return min(p, 1.0)

    def state(self, now: float) -> str:
        if self.send_at is None:
            return "not_scheduled"
        if now < self.send_at:
            return "scheduled"
        p = self.progress(now)
        if p is None:
            return "pending_or_overdue"
        if self.fail_at is not None and p >= self.fail_at:
            return "failed"
        return "completed" if p >= 1.0 else "running"

    def counts(self, now: float) -> dict[str, int] | None:
        p = self.progress(now)
        if p is None:
            return None
        n = float(self.audience)
        done = [min(1.0, max(0.0, (p - STAGE_LAG * k) / (1 - 3 * STAGE_LAG))) for k in range(4)]
        out = {"scheduled": self.audience}
        failed = 0
        base = n
        names = ("hydrated", "composed", "injected", "sent")
        for k, stage in enumerate(names):
            loss = self.losses[k] + (self.stuck if stage == "sent" else 0.0)
            out[stage] = math.floor(base * done[k] * (1 - loss))
            failed += math.floor(base * done[k] * self.losses[k])
            base *= 1 - self.losses[k]
        out["failed"] = failed
        return {stage: out[stage] for stage in STAGES}

    def completed_at(self, now: float) -> float | None:
        state = self.state(now)
        if state not in ("completed", "failed") or self.start is None:
            return None
        share = self.fail_at if state == "failed" and self.fail_at is not None else 1.0
        return self.start + self.duration * share

    def configured(self) -> bool:
        return self.has_audience and self.has_template
