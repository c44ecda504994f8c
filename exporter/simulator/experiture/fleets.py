"""The campaigns a workspace starts with: the default mix (``make_campaign``, or healthy: no
alert should fire) and the named fleets a ``SimulatorSettings.preset`` picks (``FLEETS``)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from .campaign import SimCampaign

CHANNELS = ("email", "sms", "push", "direct_mail")
TIMEZONES = ("America/New_York", "Europe/London", "UTC", "Asia/Tokyo")
REACH_STATUSES = ("ok", "ok", "ok", "ok", "ok", "ok", "idle", "pending", "failed")


def _pick_state(rng: random.Random, healthy: bool) -> str:
    roll = rng.random()
    if healthy:  # nothing failed, overdue or stuck: a fleet no alert should fire on
        return ("not_scheduled", "scheduled", "running", "completed")[int(roll * 4)]
    for state, share in (
        ("not_scheduled", 0.08),
        ("scheduled", 0.22),
        ("pending_or_overdue", 0.05),
        ("running", 0.15),
        ("failed", 0.05),
    ):
        if roll < share:
            return state
        roll -= share
    return "completed"


def make_campaign(rng: random.Random, index: int, t0: float, healthy: bool = False) -> SimCampaign:
    """One campaign whose state at ``t0`` is drawn from a realistic mix."""
    target = _pick_state(rng, healthy)
    duration = rng.uniform(20 * 60, 3 * 3600)
    delay = rng.uniform(5, 120)
    send_at: float | None
    fail_at: float | None = None
    if target == "not_scheduled":
        send_at = None
    elif target == "scheduled":
        send_at = t0 + rng.uniform(2 * 3600 if healthy else 5 * 60, 2 * 86400)
    elif target == "pending_or_overdue":
        send_at = t0 - rng.uniform(60, 6 * 3600)
        delay = (t0 - send_at) + rng.uniform(10 * 60, 86400)
    elif target == "running":
        send_at = t0 - duration * rng.uniform(0.05, 0.9) - delay
    elif target == "failed":
        fail_at = rng.uniform(0.05, 0.95)
        send_at = t0 - duration * fail_at - delay - rng.uniform(0, 3 * 86400)
    else:
        send_at = t0 - duration - delay - rng.uniform(0, 6 * 86400)  # within retention
    broadcast = rng.random() >= 0.07
    published = target != "not_scheduled" or rng.random() < 0.4
    gap = not healthy and rng.random() < 0.05
    high_loss = target == "failed" or (not healthy and rng.random() < 0.03)
    losses = tuple(
        rng.uniform(0.02, 0.2) if high_loss else rng.uniform(0.0, 0.004) for _ in range(4)
    )
    created = (send_at or t0) - rng.uniform(86400, 30 * 86400)
    channel = CHANNELS[index % len(CHANNELS)] if rng.random() < 0.5 else rng.choice(CHANNELS)
    tz = rng.choice(TIMEZONES)
    mode = "at"
    if channel == "direct_mail" and rng.random() < 0.75:
        mode = "batch_on_date"
        if send_at is not None:
            send_at = batch_start(send_at, tz, target)
            if target == "pending_or_overdue":
                delay = (t0 - send_at) + rng.uniform(10 * 60, 86400)
    elif target in ("running", "completed", "failed") and rng.random() < 0.1:
        mode = "now"
    reach_status = "ok" if healthy else rng.choice(REACH_STATUSES)
    return SimCampaign(
        campaign_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        name=f"{channel.replace('_', ' ').title()} campaign {index:05d}",
        channel=channel,
        campaign_type="broadcast" if broadcast else rng.choice(("journey", "triggered")),
        authoring_status="published" if published else "draft",
        created_at=created,
        updated_at=created + rng.uniform(0, 3600),
        send_at=send_at,
        start_delay=delay,
        duration=duration,
        audience=int(rng.lognormvariate(9.5, 1.2)) + 50,
        losses=(losses[0], losses[1], losses[2], losses[3]),
        stuck=rng.uniform(0.1, 0.3) if gap else 0.0,
        fail_at=fail_at,
        has_audience=healthy or rng.random() > 0.04,
        has_template=healthy or rng.random() > 0.04,
        mode=mode,
        timezone=tz,
        reach_status=reach_status,
        reach_stale=not healthy and rng.random() < 0.1,
    )


def batch_start(send_at: float, tz: str, target: str) -> float:
    """The start of the batch day of a send due around ``send_at``; an overdue batch's day
    has already ended (it was due yesterday or the day before)."""
    zone = ZoneInfo(tz)
    day: date = datetime.fromtimestamp(send_at, zone).date()
    if target == "pending_or_overdue":
        day -= timedelta(days=1)
    return datetime(day.year, day.month, day.day, tzinfo=zone).timestamp()


# The long-used fleet: an account that has sent for years. Shares of the fleet by role at
# t0, as exact counts; what is left has completed. A quarter of the scheduled ones send
# within 15 minutes.
LONG_USED_SHARES = (("running", 0.04), ("scheduled", 0.08), ("idle", 0.06))
DAY = 86400.0


def long_used_fleet(count: int, rng: random.Random, t0: float) -> list[SimCampaign]:
    """A long-used account: most campaigns completed long ago, 4% running, the rest
    scheduled (some about to send) or idle. Most were last edited shortly before their
    send, recurring ones weeks before; a quarter of the running ones 7-30 days ago, so
    that they sit deep in the ``updatedAt``-desc listing. Nothing failed or overdue."""
    sizes = {role: round(share * count) for role, share in LONG_USED_SHARES}
    soon = round(sizes["scheduled"] / 4)
    roles = (
        ["running"] * sizes["running"]
        + ["soon"] * soon
        + ["scheduled"] * (sizes["scheduled"] - soon)
        + ["idle"] * sizes["idle"]
    )
    roles += ["completed"] * (count - len(roles))
    rng.shuffle(roles)
    running = [i for i, role in enumerate(roles) if role == "running"]
    deep = set(rng.sample(running, round(len(running) / 4)))
    return [_long_used_campaign(rng, i, t0, roles[i], i in deep) for i in range(count)]


def _long_used_send(rng: random.Random, role: str, t0: float, run: float) -> float | None:
    """When a campaign of this role was (or will be) due; ``run`` is its delay plus the
    share of its duration already behind it."""
    if role == "idle":
        return None
    if role == "running":
        return t0 - run
    if role == "soon":
        return t0 + rng.uniform(60, 15 * 60)
    if role == "scheduled":
        return t0 + rng.uniform(2 * DAY, 14 * DAY)
    recent = rng.random() < 0.12  # sent within the last week; the rest long before it
    age = rng.uniform(3600, 7 * DAY) if recent else rng.uniform(8 * DAY, 730 * DAY)
    return t0 - age - run


def _long_used_edit(
    rng: random.Random, role: str, t0: float, send_at: float | None, deep: bool
) -> float:
    """The last edit: 7-30 days ago for a deep running campaign; shortly before the send,
    or weeks before for a recurring one; within the last year for an idle one."""
    if deep:
        return t0 - rng.uniform(7 * DAY, 30 * DAY)
    if send_at is None:
        return t0 - rng.uniform(DAY, 365 * DAY)
    recurring = role != "running" and rng.random() < 0.2
    before = rng.uniform(7 * DAY, 45 * DAY) if recurring else rng.uniform(300, DAY)
    return min(send_at - before, t0 - rng.uniform(60, 3600))


def _long_used_campaign(
    rng: random.Random, index: int, t0: float, role: str, deep: bool
) -> SimCampaign:
    if role == "running":  # long sends, so that they are still running minutes from now
        duration = rng.uniform(2 * 3600, 8 * 3600)
    else:
        duration = rng.uniform(20 * 60, 3 * 3600)
    delay = rng.uniform(5, 120)
    done = rng.uniform(0.05, 0.7) if role == "running" else 1.0
    send_at = _long_used_send(rng, role, t0, delay + duration * done)
    channel = rng.choice(CHANNELS)
    tz = rng.choice(TIMEZONES)
    mode = "at"
    if channel == "direct_mail" and role in ("completed", "scheduled") and rng.random() < 0.75:
        mode = "batch_on_date"
        assert send_at is not None
        batch = batch_start(send_at, tz, "scheduled")
        delay += send_at - batch  # the batch's day began earlier; it starts as drawn
        send_at = batch
    elif role in ("running", "completed") and rng.random() < 0.1:
        mode = "now"
    updated = _long_used_edit(rng, role, t0, send_at, deep)
    broadcast = role not in ("completed", "idle") or rng.random() >= 0.03
    return SimCampaign(
        campaign_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        name=f"{channel.replace('_', ' ').title()} campaign {index:05d}",
        channel=channel,
        campaign_type="broadcast" if broadcast else rng.choice(("journey", "triggered")),
        authoring_status="draft" if role == "idle" and rng.random() < 0.5 else "published",
        created_at=updated - rng.uniform(3600, 60 * DAY),
        updated_at=updated,
        send_at=send_at,
        start_delay=delay,
        duration=duration,
        audience=int(rng.lognormvariate(9.5, 1.2)) + 50,
        losses=(
            rng.uniform(0.0, 0.004),
            rng.uniform(0.0, 0.004),
            rng.uniform(0.0, 0.004),
            rng.uniform(0.0, 0.004),
        ),
        mode=mode,
        timezone=tz,
    )


FLEETS: dict[str, Callable[[int, random.Random, float], list[SimCampaign]]] = {
    "long-used": long_used_fleet,
}
"""The named fleets a ``SimulatorSettings.preset`` picks, by name."""
