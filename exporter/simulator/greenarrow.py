"""GreenArrow's v2 system-campaigns report, simulated: campaigns across organizations and
mailing lists, and the one route that pages through them.

Stats are pure functions of the simulated clock and never go down, as the real
cumulative counts don't; campaigns appear in the report once they start sending.

A report item is what the docs list and nothing more: ``organization``, ``mailing_list``
and ``campaign {id, name, state, paused, stats}``; no timestamps (the start time drives
only the ``started_at__start``/``__end`` filters and the control API's truth).

Beyond the vendor's docs, and named so: errors answer 401 (``not_authorized``) and 400 (the
others), statuses the docs leave unsaid; and the API key is the fixed ``1:demo-ga-key``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from .clock import SimClock
from .settings import SimulatorSettings
from .vendor import Produce, Route, Trouble, VendorApi, basic_credentials

STATES = ("sending", "finished", "failed", "cancelled")


@dataclass
class GACampaign:
    campaign_id: int
    name: str
    org_id: int
    org_name: str
    list_id: int
    list_name: str
    started_at: float
    duration: float
    recipients: int
    outcome: str  # finished, failed or cancelled, once progress reaches stop_at
    stop_at: float  # share of the send at which it ends (1.0 when it finishes)
    pause_at: float | None  # share at which it was paused (still "sending")
    skip: float
    bounce: float
    hard_share: float
    soft_share: float
    queue: float
    open: float
    click: float
    complaint: float
    unsub: float

    def progress(self, now: float) -> float:
        p = min(1.0, max(0.0, (now - self.started_at) / self.duration))
        if self.pause_at is not None:
            p = min(p, self.pause_at)
        return min(p, self.stop_at)

    def state(self, now: float) -> str:
        p = self.progress(now)
        if self.pause_at is None and p >= self.stop_at:
            return self.outcome
        return "sending"

    def paused(self) -> bool:
        return self.pause_at is not None

    def ended_at(self, now: float) -> float | None:
        if self.state(now) == "sending":
            return None
        return self.started_at + self.duration * self.stop_at

    def stats(self, now: float) -> dict[str, dict[str, int]]:
        p = self.progress(now)
        done = 1.0 if self.state(now) != "sending" else p
        n = self.recipients
        sent = math.floor(n * (1 - self.skip) * p)
        skipped = n * self.skip * p
        bounced = math.floor(sent * self.bounce)
        accepted = math.floor(sent * (1 - self.bounce - self.queue * (1 - done)))
        hard = math.floor(sent * self.bounce * self.hard_share)
        soft = math.floor(sent * self.bounce * self.soft_share)
        other = math.floor(sent * self.bounce * (1 - self.hard_share - self.soft_share))
        unique_opens = math.floor(accepted * self.open)
        unique_clicks = math.floor(accepted * self.click)
        complaints = math.floor(accepted * self.complaint)
        unsubs = math.floor(accepted * self.unsub)
        return {
            "recipients": {
                "total": n,
                "sent": sent,
                "skip": math.floor(skipped),
                "remaining": max(0, n - sent - math.floor(skipped))
                if self.state(now) == "sending"
                else 0,
            },
            "sent": {
                "total": sent,
                "accepted": accepted,
                "bounced": bounced,
                "in_queue": sent - accepted - bounced,
            },
            "skip": {
                "ssr_failure": math.floor(skipped * 0.2),
                "ssr_request": math.floor(skipped * 0.8),
            },
            "open": {"total": math.floor(accepted * self.open * 1.6), "unique": unique_opens},
            "click": {"total": math.floor(accepted * self.click * 1.4), "unique": unique_clicks},
            "bounce": {
                "total": bounced,
                "unique": math.floor(sent * self.bounce * 0.95),
                "hard": hard,
                "soft": soft,
                "other": other,
                "subscribers_updated": hard,
            },
            "scomp": {
                "total": complaints,
                "unique": math.floor(accepted * self.complaint * 0.98),
                "subscribers_updated": math.floor(accepted * self.complaint * 0.98),
            },
            "unsub": {
                "total": unsubs,
                "unique": math.floor(accepted * self.unsub * 0.99),
                "subscribers_updated": math.floor(accepted * self.unsub * 0.99),
            },
        }


def _organizations(rng: random.Random) -> list[tuple[int, str, list[tuple[int, str]]]]:
    orgs = [(1, "System Organization", [(1, "Default Mailing List")])]
    list_id = 2
    for org_id in range(2, 13):
        lists = []
        for n in range(rng.randint(1, 5)):
            lists.append((list_id, f"Org {org_id} list {n + 1}"))
            list_id += 1
        orgs.append((org_id, f"Brand {org_id:02d}", lists))
    return orgs


def make_campaign(
    rng: random.Random,
    campaign_id: int,
    t0: float,
    orgs: list[tuple[int, str, list[tuple[int, str]]]],
    healthy: bool = False,
) -> GACampaign:
    org_id, org_name, lists = rng.choice(orgs)
    list_id, list_name = rng.choice(lists)
    duration = rng.uniform(10 * 60, 6 * 3600)
    # One in ten sending right now, a few starting within two hours (the report grows
    # over time), the rest spread over the last 60 days.
    when = rng.random()
    if when < 0.10:
        started = t0 - duration * rng.uniform(0.02, 0.9)
    elif when < 0.14:
        started = t0 + rng.uniform(60, 2 * 3600)
    else:
        started = t0 - duration - rng.uniform(0, 60 * 86400)
    roll = rng.random()
    outcome, stop_at = "finished", 1.0
    if healthy:
        pass
    elif roll < 0.05:
        outcome, stop_at = "failed", rng.uniform(0.05, 0.9)
    elif roll < 0.09:
        outcome, stop_at = "cancelled", rng.uniform(0.05, 0.9)
    pause_at = rng.uniform(0.1, 0.9) if when < 0.10 and rng.random() < 0.1 else None
    risky = not healthy and rng.random() < 0.06
    return GACampaign(
        campaign_id=campaign_id,
        name=f"{org_name} send {campaign_id}",
        org_id=org_id,
        org_name=org_name,
        list_id=list_id,
        list_name=list_name,
        started_at=started,
        duration=duration,
        recipients=int(rng.lognormvariate(9.0, 1.3)) + 20,
        outcome=outcome,
        stop_at=stop_at,
        pause_at=pause_at,
        skip=rng.uniform(0.0, 0.02),
        bounce=rng.uniform(0.03, 0.12) if risky else rng.uniform(0.002, 0.02),
        hard_share=rng.uniform(0.2, 0.6),
        soft_share=rng.uniform(0.2, 0.35),
        queue=rng.uniform(0.01, 0.1),
        open=rng.uniform(0.1, 0.45),
        click=rng.uniform(0.01, 0.08),
        complaint=rng.uniform(0.002, 0.006) if risky else rng.uniform(0.0, 0.0008),
        unsub=rng.uniform(0.0, 0.01),
    )


@dataclass
class GreenArrowWorld:
    campaigns: list[GACampaign]
    api_key: str = "demo-ga-key"
    organization_id: str = "1"

    @classmethod
    def generate(
        cls, count: int, rng: random.Random, t0: float, healthy: bool = False
    ) -> GreenArrowWorld:
        orgs = _organizations(rng)
        return cls([make_campaign(rng, i + 1, t0, orgs, healthy) for i in range(count)])

    def authorized(self, user: str, password: str) -> bool:
        return user == self.organization_id and password == self.api_key

    def report(
        self, now: float, start: float | None, end: float | None, exclude_active: bool
    ) -> list[GACampaign]:
        found = [
            c
            for c in self.campaigns
            if c.started_at <= now
            and (start is None or c.started_at >= start)
            and (end is None or c.started_at <= end)
            and not (exclude_active and c.state(now) == "sending")
        ]
        found.sort(key=lambda c: (c.started_at, c.campaign_id))
        return found

    def fail(self, campaign_id: int, now: float) -> None:
        """Make a campaign fail now (started campaigns only)."""
        c = self._campaign(campaign_id)
        c.pause_at, c.outcome = None, "failed"
        c.stop_at = max(0.01, min(1.0, (now - c.started_at) / c.duration))

    def bounce(self, campaign_id: int, share: float) -> None:
        """Make a share of the campaign's sent messages bounce (from now on)."""
        c = self._campaign(campaign_id)
        c.bounce = share

    def _campaign(self, campaign_id: int) -> GACampaign:
        return next(c for c in self.campaigns if c.campaign_id == campaign_id)

    def truth(self, now: float, start: float | None = None) -> list[dict[str, Any]]:
        return [
            {
                "campaign_id": str(c.campaign_id),
                "name": c.name,
                "state": c.state(now),
                "paused": c.paused(),
                "organization_id": c.org_id,
                "organization": c.org_name,
                "mailing_list_id": c.list_id,
                "mailing_list": c.list_name,
                "started_at": c.started_at,
                "ended_at": c.ended_at(now),
                "stats": c.stats(now),
            }
            for c in self.report(now, start, None, False)
        ]


def report_item(c: GACampaign, now: float, paused_as_string: bool) -> dict[str, Any]:
    return {
        "organization": {"id": c.org_id, "name": c.org_name},
        "mailing_list": {"id": c.list_id, "name": c.list_name},
        "campaign": {
            "id": c.campaign_id,
            "name": c.name,
            "state": c.state(now),
            # one version of the docs has a boolean, another a string: serve both
            "paused": ("true" if c.paused() else "false") if paused_as_string else c.paused(),
            "stats": c.stats(now),
        },
    }


def error_envelope(code: str, message: str) -> dict[str, Any]:
    return {"success": False, "error_code": code, "error_message": message, "data": None}


def _iso_param(value: str | None) -> float | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


class GreenArrowApi(VendorApi):
    """``GET /ga/api/v2/system_campaigns`` behind HTTP Basic auth, paged from 0."""

    name = "greenarrow"
    correlation_header = "X-Request-Id"  # in the seed's example response

    def __init__(self, settings: SimulatorSettings, rng: random.Random, clock: SimClock) -> None:
        self.clock = clock
        self.omit_num_pages = settings.greenarrow_omit_num_pages
        self.world = GreenArrowWorld.generate(
            settings.greenarrow_campaigns, rng, clock.now(), settings.healthy
        )

    def routes(self) -> Iterable[Route]:
        return (
            Route("GET", "/ga/api/v2/system_campaigns", "system_campaigns", self.system_campaigns),
        )

    def error_body(self, status: int, trouble: Trouble) -> dict[str, Any]:
        code = "not_authorized" if status in (401, 403) else "internal_error"
        return error_envelope(code, trouble.value)

    def truth(self, now: float) -> list[dict[str, Any]]:
        return self.world.truth(now)

    def control_routes(self) -> Iterable[web.RouteDef]:
        return (web.post(f"/_sim/{self.name}/campaigns/{{cid}}/{{action}}", self.ctl_campaign),)

    async def ctl_campaign(self, request: web.Request) -> web.Response:
        """``fail``: it fails now; ``bounce``: a fifth of what it sends bounces."""
        cid, action = request.match_info["cid"], request.match_info["action"]
        known = {str(c.campaign_id) for c in self.world.campaigns}
        if cid not in known:
            return web.json_response({"error": "no such campaign"}, status=404)
        if action == "fail":
            self.world.fail(int(cid), self.clock.now())
        elif action == "bounce":
            self.world.bounce(int(cid), 0.2)
        else:
            return web.json_response({"error": "action is fail or bounce"}, status=400)
        return web.json_response({"ok": True})

    def entries(self, body: dict[str, Any]) -> list[Any] | None:
        data = body.get("data")
        report = data.get("campaign_report") if isinstance(data, dict) else None
        return report if isinstance(report, list) else None

    def set_entry_id(self, entry: dict[str, Any], value: Any) -> None:
        if isinstance(entry.get("campaign"), dict):
            entry["campaign"]["id"] = value

    def claim_total(self, body: dict[str, Any], total: int) -> None:
        for key in ("num_records", "num_pages"):
            if key in body:
                body[key] = total

    async def system_campaigns(self, request: web.Request) -> Produce:
        q = request.query

        def produce() -> tuple[int, Any]:
            user, password = basic_credentials(request.headers.get("Authorization", ""))
            if not self.world.authorized(user, password):
                return 401, error_envelope("not_authorized", "API key is not valid")
            try:
                page = max(int(q.get("page", "0")), 0)
                per_page = int(q.get("per_page", "100"))
                start = _iso_param(q.get("started_at__start"))
                end = _iso_param(q.get("started_at__end"))
            except ValueError as exc:
                return 400, error_envelope("validation_failed", str(exc))
            if per_page > 500 or per_page < 1:
                return 400, error_envelope("requested_too_many", "per_page must be 1 to 500")
            now = self.clock.now()
            found = self.world.report(now, start, end, q.get("exclude_active_campaigns") == "1")
            items = found[page * per_page : (page + 1) * per_page]
            body: dict[str, Any] = {
                "success": True,
                "error_code": None,
                "error_message": None,
                "page": page,
                "per_page": per_page,
                "num_records": len(found),
                "num_pages": -(-len(found) // per_page),
                "data": {
                    "campaign_report": [
                        report_item(c, now, paused_as_string=c.campaign_id % 2 == 0) for c in items
                    ]
                },
            }
            if self.omit_num_pages:
                del body["num_pages"]
            return 200, body

        return produce
