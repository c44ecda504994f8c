"""The simulator's HTTP server: both vendor APIs on loopback, plus a control API under /_sim.

Control endpoints (for tests, benchmarks and the curious):
  GET  /_sim/experiture/truth                 every live campaign as the simulator sees it
  POST /_sim/experiture/campaigns/{id}/fail   make its execution fail now
  POST /_sim/experiture/campaigns/{id}/delete answer 404 for it from now on
  POST /_sim/experiture/expire-tokens         every issued OAuth token stops working
  GET  /_sim/greenarrow/truth                 every started GreenArrow campaign and its stats
  POST /_sim/faults  {"kind": ..., "api": ..., "endpoint": ..., "count": ...}; DELETE clears
  POST /_sim/clock   {"speed": 0} freezes time, {"advance": 60} moves it on
  GET  /_sim/stats   requests served, by api, endpoint and status; POST /_sim/stats/reset
"""

from __future__ import annotations

import asyncio
import base64
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from . import experiture as exp
from . import greenarrow as ga
from . import hostile
from .clock import SimClock
from .faults import Fault, FaultPlan

Produce = Callable[[], tuple[int, Any]]
HANG_SECONDS = 600.0


@dataclass(frozen=True)
class SimulatorSettings:
    experiture_campaigns: int = 300
    greenarrow_campaigns: int = 300
    seed: int = 42
    speed: float = 1.0
    token_ttl: float = 3600.0
    max_page_size: int = 100
    greenarrow_omit_num_pages: bool = False
    healthy: bool = False  # no failed, overdue, stalled or badly delivering campaigns
    rate_limit: float | None = None  # requests per second per API and endpoint class
    rate_burst: int = 10
    # Endpoint classes with a limit of their own, e.g. {"analytics": 1.0}. Experiture's
    # limits are per endpoint class and independent: campaigns (list, summary, status,
    # preflight) and analytics (metrics).
    class_rate_limits: Mapping[str, float] = field(default_factory=dict)


class Simulator:
    def __init__(self, settings: SimulatorSettings | None = None) -> None:
        self.settings = settings or SimulatorSettings()
        self.rng = random.Random(self.settings.seed)  # noqa: S311 - a simulation, not security
        self.clock = SimClock(self.settings.speed)
        t0 = self.clock.now()
        self.experiture = exp.ExperitureWorld.generate(
            self.settings.experiture_campaigns, self.rng, t0, self.settings.healthy
        )
        self.experiture.token_ttl = self.settings.token_ttl
        self.greenarrow = ga.GreenArrowWorld.generate(
            self.settings.greenarrow_campaigns, self.rng, t0, self.settings.healthy
        )
        self.faults = FaultPlan(self.rng)
        self.stats: Counter[tuple[str, str, int]] = Counter()
        self.request_times: list[float] = []
        self.buckets: dict[tuple[str, str], tuple[float, float]] = {}  # (tokens, stamp)

    # -- shared plumbing -------------------------------------------------------------

    async def respond(
        self, request: web.Request, api: str, endpoint: str, produce: Produce
    ) -> web.StreamResponse:
        """Answer one API request, through any fault that matches it, and count it."""
        self.request_times.append(time.monotonic())
        correlation = uuid.uuid4().hex
        if not self._within_rate(api, endpoint):
            self.stats[(api, endpoint, 429)] += 1
            resp = self._error(api, 429, "CDP_ETL.RATE.LIMITED", "rate limit exceeded", correlation)
            resp.headers["Retry-After"] = "1"
            return resp
        fault = self.faults.pick(api, endpoint)
        status, body = 200, None
        if fault is not None:
            early = await self._early_fault(request, fault, api, correlation)
            if early is not None:
                self.stats[(api, endpoint, early.status)] += 1
                return early
        status, body = produce()
        if fault is not None and status == 200 and isinstance(body, dict):
            if fault.kind == "nulls":
                body["data"] = _sprinkle_nulls(body.get("data"), self.rng)
            elif fault.kind == "unknown_values":
                body["data"] = _unknown_values(body.get("data"))
            elif fault.kind in hostile.BODY_MUTATIONS:
                body = hostile.BODY_MUTATIONS[fault.kind](body)
        self.stats[(api, endpoint, status)] += 1
        return self._json(api, status, body, correlation)

    def _within_rate(self, api: str, endpoint: str) -> bool:
        """The vendor's own limit (per API and endpoint class), when the settings give one."""
        kind = "analytics" if (api, endpoint) == ("experiture", "metrics") else "campaigns"
        rate = self.settings.class_rate_limits.get(kind, self.settings.rate_limit)
        if rate is None:
            return True
        now, burst = time.monotonic(), float(self.settings.rate_burst)
        tokens, stamp = self.buckets.get((api, kind), (burst, now))
        tokens = min(burst, tokens + (now - stamp) * rate)
        if tokens < 1.0:
            self.buckets[(api, kind)] = (tokens, now)
            return False
        self.buckets[(api, kind)] = (tokens - 1.0, now)
        return True

    def max_per_second(self) -> int:
        """The most requests that arrived within any one-second window."""
        times, best, lo = sorted(self.request_times), 0, 0
        for hi, t in enumerate(times):
            while t - times[lo] >= 1.0:
                lo += 1
            best = max(best, hi - lo + 1)
        return best

    async def _early_fault(
        self, request: web.Request, fault: Fault, api: str, correlation: str
    ) -> web.StreamResponse | None:
        if fault.kind == "latency":
            await asyncio.sleep(fault.delay)
            return None
        answer = hostile.early_answer(fault.kind, request, fault.size)
        if answer is not None:
            return answer
        if fault.kind == "hang":
            await asyncio.sleep(HANG_SECONDS)
        if fault.kind == "outage":
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=599)
        if fault.kind == "http_5xx":
            return self._error(
                api, fault.status, "INTERNAL_ERROR", "simulated failure", correlation
            )
        if fault.kind == "rate_limit":
            resp = self._error(api, 429, "CDP_ETL.RATE.LIMITED", "rate limit exceeded", correlation)
            resp.headers["Retry-After"] = f"{fault.retry_after:g}"
            return resp
        if fault.kind == "envelope_error":
            body = (
                exp_error("INTERNAL_ERROR", "simulated failure")
                if api == "experiture"
                else ga_error("internal_error", "simulated failure")
            )
            return self._json(api, 200, body, correlation)
        if fault.kind == "malformed":
            return web.Response(
                status=200,
                body=b'{"success": true, "data": [{"campa',
                content_type="application/json",
            )
        return None

    def _json(self, api: str, status: int, body: Any, correlation: str) -> web.Response:
        if api == "experiture" and isinstance(body, dict):
            body.setdefault("correlationId", correlation)
        resp = web.json_response(body, status=status)
        resp.headers["x-correlation-id" if api == "experiture" else "X-Request-Id"] = correlation
        return resp

    def _error(
        self, api: str, status: int, code: str, message: str, correlation: str
    ) -> web.Response:
        if api == "experiture":
            return self._json(api, status, exp_error(code, message), correlation)
        ga_code = "not_authorized" if status in (401, 403) else "internal_error"
        return self._json(api, status, ga_error(ga_code, message), correlation)

    # -- Experiture ------------------------------------------------------------------

    def _exp_scopes(self, request: web.Request) -> frozenset[str] | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return None
        return self.experiture.scopes_of(header[len("Bearer ") :])

    async def _exp(
        self,
        request: web.Request,
        endpoint: str,
        scope: str,
        produce: Callable[[], tuple[int, Any]],
    ) -> web.StreamResponse:
        def guarded() -> tuple[int, Any]:
            scopes = self._exp_scopes(request)
            if scopes is None:
                return 401, exp_error("UNAUTHORIZED", "invalid or expired access token")
            if scope not in scopes:
                return 403, exp_error("FORBIDDEN", f"token lacks the {scope} scope")
            return produce()

        return await self.respond(request, "experiture", endpoint, guarded)

    async def exp_list(self, request: web.Request) -> web.StreamResponse:
        q = request.query

        def produce() -> tuple[int, Any]:
            try:
                limit = min(max(int(q.get("limit", "20")), 1), self.settings.max_page_size)
                offset = max(int(q.get("offset", "0")), 0)
            except ValueError:
                return 400, exp_error("VALIDATION_FAILED", "limit and offset must be integers")
            items = self.experiture.live()
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
                "data": [exp.campaign_listing(c) for c in page],
                "pagination": {"total": len(items), "limit": limit, "offset": offset},
            }

        return await self._exp(request, "list", "campaigns:read", produce)

    def _campaign_view(
        self,
        request: web.Request,
        unsupported_code: str,
        view: Callable[[exp.SimCampaign, float], Any],
    ) -> Produce:
        cid = request.match_info["cid"]

        def produce() -> tuple[int, Any]:
            c = self.experiture.campaigns.get(cid)
            if c is None or c.deleted:
                return 404, exp_error("NOT_FOUND", "campaign not found")
            if c.campaign_type != "broadcast":
                err = exp_error(unsupported_code, "public v1 exposes only broadcast campaigns")
                err["error"]["details"] = {"campaignType": c.campaign_type}
                return 409, err
            return 200, {"success": True, "data": view(c, self.clock.now())}

        return produce

    async def exp_status(self, request: web.Request) -> web.StreamResponse:
        produce = self._campaign_view(request, "TYPE_UNSUPPORTED", exp.status_body)
        return await self._exp(request, "status", "campaigns:read", produce)

    async def exp_metrics(self, request: web.Request) -> web.StreamResponse:
        def view(c: exp.SimCampaign, now: float) -> Any:
            return {"campaignId": c.campaign_id, "counts": c.counts(now)}

        produce = self._campaign_view(request, "TYPE_UNSUPPORTED", view)
        return await self._exp(request, "metrics", "analytics:read", produce)

    async def exp_summary(self, request: web.Request) -> web.StreamResponse:
        produce = self._campaign_view(request, "SUMMARY_TYPE_UNSUPPORTED", exp.summary_body)
        return await self._exp(request, "summary", "campaigns:read", produce)

    async def exp_token(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        client_id, secret = _client_credentials(request, form)

        def produce() -> tuple[int, Any]:
            if form.get("grant_type") != "client_credentials":
                return 400, {"error": "unsupported_grant_type"}
            issued = self.experiture.issue_token(client_id, secret)
            if issued is None:
                return 401, {"error": "invalid_client"}
            token, ttl = issued
            return 200, {"access_token": token, "token_type": "Bearer", "expires_in": ttl}

        return await self.respond(request, "experiture", "token", produce)

    # -- GreenArrow ------------------------------------------------------------------

    async def ga_system_campaigns(self, request: web.Request) -> web.StreamResponse:
        q = request.query

        def produce() -> tuple[int, Any]:
            user, password = _basic_credentials(request.headers.get("Authorization", ""))
            if not self.greenarrow.authorized(user, password):
                return 401, ga_error("not_authorized", "API key is not valid")
            try:
                page = max(int(q.get("page", "0")), 0)
                per_page = int(q.get("per_page", "100"))
                start = _iso_param(q.get("started_at__start"))
                end = _iso_param(q.get("started_at__end"))
            except ValueError as exc:
                return 400, ga_error("validation_failed", str(exc))
            if per_page > 500 or per_page < 1:
                return 400, ga_error("requested_too_many", "per_page must be 1 to 500")
            now = self.clock.now()
            found = self.greenarrow.report(
                now, start, end, q.get("exclude_active_campaigns") == "1"
            )
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
                        ga.report_item(c, now, paused_as_string=c.campaign_id % 2 == 0)
                        for c in items
                    ]
                },
            }
            if self.settings.greenarrow_omit_num_pages:
                del body["num_pages"]
            return 200, body

        return await self.respond(request, "greenarrow", "system_campaigns", produce)

    # -- control ---------------------------------------------------------------------

    async def ctl_truth(self, request: web.Request) -> web.Response:
        now = self.clock.now()
        return web.json_response({"now": now, "campaigns": self.experiture.truth(now)})

    async def ctl_ga_truth(self, request: web.Request) -> web.Response:
        now = self.clock.now()
        return web.json_response({"now": now, "campaigns": self.greenarrow.truth(now)})

    async def ctl_campaign(self, request: web.Request) -> web.Response:
        cid, action = request.match_info["cid"], request.match_info["action"]
        if cid not in self.experiture.campaigns:
            return web.json_response({"error": "no such campaign"}, status=404)
        if action == "fail":
            self.experiture.fail(cid, self.clock.now())
        elif action == "delete":
            self.experiture.campaigns[cid].deleted = True
        else:
            return web.json_response({"error": "action is fail or delete"}, status=400)
        return web.json_response({"ok": True})

    async def ctl_expire(self, request: web.Request) -> web.Response:
        self.experiture.expire_tokens()
        return web.json_response({"ok": True})

    async def ctl_faults(self, request: web.Request) -> web.Response:
        if request.method == "DELETE":
            self.faults.clear()
            return web.json_response({"ok": True})
        try:
            self.faults.add(Fault.from_json(await request.json()))
        except (ValueError, TypeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"ok": True})

    async def ctl_clock(self, request: web.Request) -> web.Response:
        body = await request.json()
        if "speed" in body:
            self.clock.set_speed(float(body["speed"]))
        if "advance" in body:
            self.clock.advance(float(body["advance"]))
        return web.json_response({"now": self.clock.now(), "speed": self.clock.speed})

    async def ctl_stats(self, request: web.Request) -> web.Response:
        if request.method == "POST":
            self.stats.clear()
            self.request_times.clear()
            return web.json_response({"ok": True})
        rows = [
            {"api": a, "endpoint": e, "status": s, "count": n}
            for (a, e, s), n in sorted(self.stats.items())
        ]
        return web.json_response(
            {
                "max_per_second": self.max_per_second(),
                "requests": rows,
                "total": sum(self.stats.values()),
                "faults_injected": self.faults.injected,
            }
        )

    def app(self) -> web.Application:
        app = web.Application()
        r = app.router
        r.add_get("/public/v1/campaigns", self.exp_list)
        r.add_get("/public/v1/campaigns/{cid}/status", self.exp_status)
        r.add_get("/public/v1/campaigns/{cid}/metrics", self.exp_metrics)
        r.add_get("/public/v1/campaigns/{cid}/summary", self.exp_summary)
        r.add_post("/oauth/token", self.exp_token)
        r.add_get("/_sim/experiture/truth", self.ctl_truth)
        r.add_post("/_sim/experiture/campaigns/{cid}/{action}", self.ctl_campaign)
        r.add_post("/_sim/experiture/expire-tokens", self.ctl_expire)
        r.add_get("/ga/api/v2/system_campaigns", self.ga_system_campaigns)
        r.add_get("/_sim/greenarrow/truth", self.ctl_ga_truth)
        r.add_route("POST", "/_sim/faults", self.ctl_faults)
        r.add_route("DELETE", "/_sim/faults", self.ctl_faults)
        r.add_post("/_sim/clock", self.ctl_clock)
        r.add_get("/_sim/stats", self.ctl_stats)
        r.add_post("/_sim/stats/reset", self.ctl_stats)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[web.AppRunner, str]:
        """Listen on loopback; returns the runner (to clean up) and the base URL."""
        runner = web.AppRunner(self.app(), access_log=None, handler_cancellation=True)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0]
        return runner, f"http://{bound[0]}:{bound[1]}"


def exp_error(code: str, message: str) -> dict[str, Any]:
    return {
        "success": False,
        "error": {"code": code, "message": message, "details": {}, "remediation": None},
    }


def ga_error(code: str, message: str) -> dict[str, Any]:
    return {"success": False, "error_code": code, "error_message": message, "data": None}


def _basic_credentials(header: str) -> tuple[str, str]:
    if not header.startswith("Basic "):
        return "", ""
    try:
        user, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return "", ""
    return user, password


def _iso_param(value: str | None) -> float | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _client_credentials(request: web.Request, form: Any) -> tuple[str, str]:
    header = request.headers.get("Authorization", "")
    if header.startswith("Basic "):
        return _basic_credentials(header)
    return str(form.get("client_id", "")), str(form.get("client_secret", ""))


def _sprinkle_nulls(value: Any, rng: random.Random) -> Any:
    if isinstance(value, dict):
        return {
            k: None if rng.random() < 0.3 else _sprinkle_nulls(v, rng) for k, v in value.items()
        }
    if isinstance(value, list):
        return [None if rng.random() < 0.2 else _sprinkle_nulls(v, rng) for v in value]
    return value


def _unknown_values(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: (
                "surprising_new_value"
                if k in ("state", "status", "channel") and isinstance(v, str)
                else _unknown_values(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_unknown_values(v) for v in value]
    return value


class SimulatorThread:
    """The simulator on its own event loop in a thread, for synchronous callers."""

    def __init__(self, settings: SimulatorSettings | None = None) -> None:
        self.sim = Simulator(settings)
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="simulator", daemon=True)
        self._runner: web.AppRunner | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._runner, self.url = self._loop.run_until_complete(self.sim.start())
        self._started.set()
        self._loop.run_forever()

    def __enter__(self) -> SimulatorThread:
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("simulator did not start")
        return self

    def call(self, fn: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
        return asyncio.run_coroutine_threadsafe(fn(), self._loop).result(10)

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            self.call(self._runner.cleanup)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
