"""Experiture's routes: the list, status, metrics and summary reads behind scoped tokens, the
token endpoint, and the ``/_sim/experiture`` control routes."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import web

from ..clock import SimClock
from ..settings import SimulatorSettings
from ..vendor import Produce, Route, Trouble, VendorApi, basic_credentials
from .bodies import campaign_listing, error_envelope, metrics_body, status_body, summary_body
from .campaign import SimCampaign
from .world import ExperitureWorld

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
