"""Experiture's public v1 Campaigns API, simulated: a workspace and the routes that read it.

Each campaign's state and counts are a pure function of the simulated clock, so the
truth at any instant is exact and tests can freeze or step the clock.

Beyond the vendor's docs, and named so: the OAuth token endpoint's path (``/oauth/token``;
the real URL is shown only in the vendor console), the fixed demo tokens, the statuses of
a bad token (401) and a missing scope (403), and the error codes ``UNAUTHORIZED``,
``FORBIDDEN``, ``NOT_FOUND``, ``VALIDATION_FAILED`` and ``INTERNAL_ERROR``; the docs
name only the 409 and 429 codes (``CONFLICT``, the code of a 409 that is not about the
campaign's type, is ours too).

Schedules follow the channel, as the docs' Schedule & Send page has them: email, sms and
push send ``at`` a ``sendAt`` (a few ``now``, without one); most direct mail goes out
``batch_on_date`` (a ``batchDate``, no time of day), some ``at`` a ``sendAt`` as the seed's
own direct-mail example shows. A batch is due from the start of its day in its time zone.
Audience reach carries every documented ``status`` and ``isStale``; the summary's
``preflight.status`` is ``not_evaluated``, the one value the docs show.

Besides the default mix, named fleets (``FLEETS``, picked by ``SimulatorSettings.preset``):
``long-used``, an account that has sent for years, for benchmarks of freshness.
"""

from __future__ import annotations

import math
import random
import secrets
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from .clock import SimClock
from .settings import SimulatorSettings
from .vendor import Produce, Route, Trouble, VendorApi, basic_credentials

# The seed's pipeline counts, in the order its examples list them.
STAGES = ("scheduled", "hydrated", "composed", "injected", "sent", "failed")
CHANNELS = ("email", "sms", "push", "direct_mail")
FULL_SCOPES = frozenset({"campaigns:read", "analytics:read"})
DEFAULT_TOKENS = {
    "demo-token": FULL_SCOPES,
    "campaigns-only-token": frozenset({"campaigns:read"}),
}
DEFAULT_CLIENTS = {"demo-client": ("demo-secret", FULL_SCOPES)}
STAGE_LAG = 0.05  # each pipeline stage trails the one before by this share of the run
TIMEZONES = ("America/New_York", "Europe/London", "UTC", "Asia/Tokyo")
REACH_STATUSES = ("ok", "ok", "ok", "ok", "ok", "ok", "idle", "pending", "failed")


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
            send_at = _batch_start(send_at, tz, target)
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


def _batch_start(send_at: float, tz: str, target: str) -> float:
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
        batch = _batch_start(send_at, tz, "scheduled")
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


@dataclass
class Token:
    scopes: frozenset[str]
    expires: float  # time.monotonic(); tokens age in real time, whatever the sim clock


@dataclass
class ExperitureWorld:
    """The campaigns, the credentials that may read them, and their tokens."""

    campaigns: dict[str, SimCampaign]
    static_tokens: dict[str, frozenset[str]] = field(default_factory=lambda: dict(DEFAULT_TOKENS))
    clients: dict[str, tuple[str, frozenset[str]]] = field(
        default_factory=lambda: dict(DEFAULT_CLIENTS)
    )
    token_ttl: float = 3600.0
    issued: dict[str, Token] = field(default_factory=dict)

    @classmethod
    def generate(
        cls,
        count: int,
        rng: random.Random,
        t0: float,
        healthy: bool = False,
        preset: str | None = None,
    ) -> ExperitureWorld:
        if preset is not None:
            campaigns = FLEETS[preset](count, rng, t0)
        else:
            campaigns = [make_campaign(rng, i, t0, healthy) for i in range(count)]
        return cls({c.campaign_id: c for c in campaigns})

    def issue_token(self, client_id: str, secret: str) -> tuple[str, float] | None:
        client = self.clients.get(client_id)
        if client is None or not secrets.compare_digest(client[0], secret):
            return None
        token = "sim-" + secrets.token_urlsafe(24)
        self.issued[token] = Token(client[1], time.monotonic() + self.token_ttl)
        return token, self.token_ttl

    def expire_tokens(self) -> None:
        for token in self.issued.values():
            token.expires = 0.0

    def scopes_of(self, token: str) -> frozenset[str] | None:
        if token in self.static_tokens:
            return self.static_tokens[token]
        issued = self.issued.get(token)
        if issued is None or time.monotonic() >= issued.expires:
            return None
        return issued.scopes

    def live(self) -> list[SimCampaign]:
        return [c for c in self.campaigns.values() if not c.deleted]

    def fail(self, cid: str, now: float, edit: bool = True) -> None:
        """Make a campaign's execution fail now (starting it first if need be). With
        ``edit`` the campaign is edited too (``updatedAt`` moves); without, only its
        execution changes, as the docs have it (nothing says an execution moves
        ``updatedAt``)."""
        c = self.campaigns[cid]
        p = c.progress(now)
        if p is None or p >= 1.0:
            c.send_at, c.start_delay, c.fail_at = now - 2.0, 1.0, 0.5
            c.duration = 2.0
        else:
            c.fail_at = p
        if edit:
            c.updated_at = now

    def overdue_batch(self, cid: str, now: float) -> None:
        """Make a campaign a direct-mail batch due two days ago that has not started."""
        c = self.campaigns[cid]
        c.channel, c.mode, c.fail_at = "direct_mail", "batch_on_date", None
        c.send_at = _batch_start(now - 2 * 86400, c.timezone, "scheduled")
        c.start_delay = 10 * 86400
        c.updated_at = now

    def truth(self, now: float) -> list[dict[str, Any]]:
        return [
            {
                "campaign_id": c.campaign_id,
                "name": c.name,
                "channel": c.channel,
                "campaign_type": c.campaign_type,
                "authoring_status": c.authoring_status,
                "state": c.state(now),
                "counts": c.counts(now),
                "send_at": c.send_at,
                "mode": c.mode,
                "batch_date": c.batch_date(),
                "timezone": c.timezone,
                "reach_status": c.reach_status,
                "reach_stale": c.reach_stale,
                "started_at": c.start if c.progress(now) is not None else None,
                "completed_at": c.completed_at(now),
                "configured": c.configured(),
                "reach": c.audience,
                "updated_at": c.updated_at,
            }
            for c in self.live()
        ]


def campaign_listing(c: SimCampaign) -> dict[str, Any]:
    return {
        "campaignId": c.campaign_id,
        "name": c.name,
        "campaignType": c.campaign_type,
        "channel": c.channel,
        "authoringStatus": c.authoring_status,
        "createdAt": iso(c.created_at),
        "updatedAt": iso(c.updated_at),
    }


def last_execution(c: SimCampaign, now: float) -> dict[str, Any] | None:
    if c.progress(now) is None:
        return None
    return {
        "executionId": f"exec-{c.campaign_id}",
        "startedAt": iso(c.start),
        "completedAt": iso(c.completed_at(now)),
        "status": c.state(now),
        "counts": c.counts(now),
    }


def status_body(c: SimCampaign, now: float) -> dict[str, Any]:
    # The seed's /status schedule: scheduleId, sendAt, timezone, active (no mode and no
    # batchDate: a batch's day is in the summary's schedule).
    schedule: dict[str, Any] | None = None
    if c.send_at is not None:
        schedule = {"scheduleId": f"sch-{c.campaign_id}", "timezone": c.timezone}
        if c.mode == "at":
            schedule["sendAt"] = iso(c.send_at)
        schedule["active"] = now < c.send_at
    return {
        "campaignId": c.campaign_id,
        "name": c.name,
        "authoringStatus": c.authoring_status,
        "schedule": schedule,
        "execution": {"state": c.state(now), "lastExecution": last_execution(c, now)},
    }


def metrics_body(c: SimCampaign, now: float) -> dict[str, Any]:
    return {"campaignId": c.campaign_id, "counts": c.counts(now)}


def summary_body(c: SimCampaign, now: float) -> dict[str, Any]:
    included = (
        [{"id": f"seg-{c.campaign_id[:8]}", "name": None, "type": "segment", "memberCount": None}]
        if c.has_audience
        else []
    )
    template = (
        {
            "id": f"tpl-{c.campaign_id[:8]}",
            "name": f"{c.name} template",
            "status": "published",
            "channel": c.channel,
        }
        if c.has_template
        else None
    )
    last = last_execution(c, now)
    return {
        "campaignId": c.campaign_id,
        "name": c.name,
        "campaignType": c.campaign_type,
        "channel": c.channel,
        "authoringStatus": c.authoring_status,
        "createdAt": iso(c.created_at),
        "updatedAt": iso(c.updated_at),
        "schedule": None if c.send_at is None else {**(c.schedule(now) or {}), "scheduled": True},
        "audience": {
            "included": included,
            "excluded": [],
            "reach": {
                "status": c.reach_status,
                "evaluatedCount": c.audience,
                "evaluatedAt": iso(c.updated_at),
                "isStale": c.reach_stale,
            },
        },
        "content": {"template": template, "proofStatus": "unavailable"},
        "preflight": {"status": "not_evaluated", "checks": []},
        "latestExecution": {
            "status": c.state(now),
            "lastExecutionAt": last["startedAt"] if last else None,
            "counts": last["counts"] if last else None,
        },
        "links": {"self": f"/public/v1/campaigns/{c.campaign_id}/summary"},
    }


def error_envelope(code: str, message: str) -> dict[str, Any]:
    return {
        "success": False,
        "error": {"code": code, "message": message, "details": {}, "remediation": None},
    }


ERROR_CODES = {
    Trouble.RATE_LIMITED: "CDP_ETL.RATE.LIMITED",
    Trouble.FAILURE: "INTERNAL_ERROR",
    Trouble.CONFLICT: "CONFLICT",
}


def _client_credentials(request: web.Request, form: Any) -> tuple[str, str]:
    """HTTP Basic or form fields: OAuth 2.0 clients use either."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Basic "):
        return basic_credentials(header)
    return str(form.get("client_id", "")), str(form.get("client_secret", ""))


class ExperitureApi(VendorApi):
    """The list, status, metrics and summary reads, scoped tokens, and the token endpoint."""

    name = "experiture"
    correlation_header = "x-correlation-id"

    def __init__(self, settings: SimulatorSettings, rng: random.Random, clock: SimClock) -> None:
        self.clock = clock
        self.max_page_size = settings.max_page_size
        self.world = ExperitureWorld.generate(
            settings.experiture_campaigns, rng, clock.now(), settings.healthy, settings.preset
        )
        self.world.token_ttl = settings.token_ttl

    def routes(self) -> Iterable[Route]:
        return (
            Route("GET", "/public/v1/campaigns", "list", self.list_campaigns),
            Route("GET", "/public/v1/campaigns/{cid}/status", "status", self.status),
            Route("GET", "/public/v1/campaigns/{cid}/metrics", "metrics", self.metrics),
            Route("GET", "/public/v1/campaigns/{cid}/summary", "summary", self.summary),
            Route("POST", "/oauth/token", "token", self.token),
        )

    def error_body(self, status: int, trouble: Trouble) -> dict[str, Any]:
        return error_envelope(ERROR_CODES[trouble], trouble.value)

    def endpoint_class(self, endpoint: str) -> str:
        """Limits are per endpoint class and independent: analytics is /metrics."""
        return "analytics" if endpoint == "metrics" else "campaigns"

    def mark(self, body: Any, correlation: str) -> None:
        if isinstance(body, dict):
            body.setdefault("correlationId", correlation)

    def truth(self, now: float) -> list[dict[str, Any]]:
        return self.world.truth(now)

    def entries(self, body: dict[str, Any]) -> list[Any] | None:
        data = body.get("data")
        return data if isinstance(data, list) else None

    def set_entry_id(self, entry: dict[str, Any], value: Any) -> None:
        entry["campaignId"] = value

    def claim_total(self, body: dict[str, Any], total: int) -> None:
        if isinstance(body.get("pagination"), dict):
            body["pagination"]["total"] = total

    # -- the API -------------------------------------------------------------------------

    def _scoped(self, request: web.Request, scope: str, produce: Produce) -> Produce:
        """``produce``, behind a check that the request's token holds ``scope``."""

        def guarded() -> tuple[int, Any]:
            header = request.headers.get("Authorization", "")
            scopes = (
                self.world.scopes_of(header[len("Bearer ") :])
                if header.startswith("Bearer ")
                else None
            )
            if scopes is None:
                return 401, error_envelope("UNAUTHORIZED", "invalid or expired access token")
            if scope not in scopes:
                return 403, error_envelope("FORBIDDEN", f"token lacks the {scope} scope")
            return produce()

        return guarded

    async def list_campaigns(self, request: web.Request) -> Produce:
        q = request.query

        def produce() -> tuple[int, Any]:
            try:
                limit = min(max(int(q.get("limit", "20")), 1), self.max_page_size)
                offset = max(int(q.get("offset", "0")), 0)
            except ValueError:
                return 400, error_envelope("VALIDATION_FAILED", "limit and offset must be integers")
            items = self.world.live()
            if "status" in q:
                items = [c for c in items if c.authoring_status == q["status"]]
            if "channel" in q:
                items = [c for c in items if c.channel == q["channel"]]
            key = q.get("sortBy", "updatedAt")
            attr = {"updatedAt": "updated_at", "createdAt": "created_at"}.get(key, "updated_at")
            items.sort(
                key=lambda c: (getattr(c, attr), c.campaign_id),
                reverse=q.get("sortDirection", "desc") == "desc",
            )
            page = items[offset : offset + limit]
            return 200, {
                "success": True,
                "data": [campaign_listing(c) for c in page],
                "pagination": {"total": len(items), "limit": limit, "offset": offset},
            }

        return self._scoped(request, "campaigns:read", produce)

    def _campaign_view(
        self,
        request: web.Request,
        unsupported_code: str,
        view: Callable[[SimCampaign, float], Any],
    ) -> Produce:
        cid = request.match_info["cid"]

        def produce() -> tuple[int, Any]:
            c = self.world.campaigns.get(cid)
            if c is None or c.deleted:
                return 404, error_envelope("NOT_FOUND", "campaign not found")
            if c.campaign_type != "broadcast":
                err = error_envelope(unsupported_code, "public v1 exposes only broadcast campaigns")
                err["error"]["details"] = {"campaignType": c.campaign_type}
                return 409, err
            return 200, {"success": True, "data": view(c, self.clock.now())}

        return produce

    async def status(self, request: web.Request) -> Produce:
        produce = self._campaign_view(request, "TYPE_UNSUPPORTED", status_body)
        return self._scoped(request, "campaigns:read", produce)

    async def metrics(self, request: web.Request) -> Produce:
        produce = self._campaign_view(request, "TYPE_UNSUPPORTED", metrics_body)
        return self._scoped(request, "analytics:read", produce)

    async def summary(self, request: web.Request) -> Produce:
        produce = self._campaign_view(request, "SUMMARY_TYPE_UNSUPPORTED", summary_body)
        return self._scoped(request, "campaigns:read", produce)

    async def token(self, request: web.Request) -> Produce:
        form = await request.post()
        client_id, secret = _client_credentials(request, form)

        def produce() -> tuple[int, Any]:
            if form.get("grant_type") != "client_credentials":
                return 400, {"error": "unsupported_grant_type"}
            issued = self.world.issue_token(client_id, secret)
            if issued is None:
                return 401, {"error": "invalid_client"}
            token, ttl = issued
            return 200, {"access_token": token, "token_type": "Bearer", "expires_in": ttl}

        return produce

    # -- control -------------------------------------------------------------------------

    def control_routes(self) -> Iterable[web.RouteDef]:
        return (
            web.post(f"/_sim/{self.name}/campaigns/{{cid}}/{{action}}", self.ctl_campaign),
            web.post(f"/_sim/{self.name}/expire-tokens", self.ctl_expire),
        )

    async def ctl_campaign(self, request: web.Request) -> web.Response:
        cid, action = request.match_info["cid"], request.match_info["action"]
        if cid not in self.world.campaigns:
            return web.json_response({"error": "no such campaign"}, status=404)
        if action == "fail":
            edit = request.query.get("edit", "1") != "0"
            self.world.fail(cid, self.clock.now(), edit)
        elif action == "delete":
            self.world.campaigns[cid].deleted = True
        elif action == "overdue-batch":
            self.world.overdue_batch(cid, self.clock.now())
        else:
            return web.json_response(
                {"error": "action is fail, delete or overdue-batch"}, status=400
            )
        return web.json_response({"ok": True})

    async def ctl_expire(self, request: web.Request) -> web.Response:
        self.world.expire_tokens()
        return web.json_response({"ok": True})
