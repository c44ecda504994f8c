"""An Experiture workspace: its campaigns, the credentials that may read them, the tokens
issued to them, and the changes the control API makes."""

from __future__ import annotations

import random
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from .campaign import SimCampaign
from .fleets import FLEETS, batch_start, make_campaign

FULL_SCOPES = frozenset({"campaigns:read", "analytics:read"})
DEFAULT_TOKENS = {
    "demo-token": FULL_SCOPES,
    "campaigns-only-token": frozenset({"campaigns:read"}),
}
DEFAULT_CLIENTS = {"demo-client": ("demo-secret", FULL_SCOPES)}


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
        c.send_at = batch_start(now - 2 * 86400, c.timezone, "scheduled")
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
