"""The simulator's HTTP server: the registered vendor APIs on loopback, a control API under /_sim.

The server knows vendors only through ``vendor.VendorApi``; what they share lives here
once: faults and hostile answers, the rate limit, request stats, the clock and the control
API. None of the control API is a vendor's.

Control endpoints (for tests, benchmarks and the curious; the experiture ones are its own):
  GET  /_sim/<api>/truth                      every campaign of that API as the simulator sees it
  POST /_sim/experiture/campaigns/{id}/fail   make its execution fail now (and edit it:
                                              updatedAt moves; ?edit=0 leaves it be)
  POST /_sim/experiture/campaigns/{id}/delete answer 404 for it from now on
  POST /_sim/experiture/campaigns/{id}/overdue-batch  a direct-mail batch due two days ago
  POST /_sim/greenarrow/campaigns/{id}/fail   it fails now
  POST /_sim/greenarrow/campaigns/{id}/bounce a fifth of what it sends bounces
  POST /_sim/experiture/expire-tokens         every issued OAuth token stops working
  POST /_sim/faults  {"kind": ..., "api": ..., "endpoint": ..., "count": ...}; DELETE clears
  POST /_sim/clock   {"speed": 0} freezes time, {"advance": 60} moves it on
  GET  /_sim/stats   requests served, by api, endpoint and status; POST /_sim/stats/reset
"""

from __future__ import annotations

import asyncio
import random
import ssl
import threading
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar

from aiohttp import web

from . import hostile
from .clock import SimClock
from .experiture import ExperitureApi, ExperitureWorld
from .faults import Fault, FaultPlan, sprinkle_nulls, unknown_values
from .greenarrow import GreenArrowApi, GreenArrowWorld
from .settings import SimulatorSettings
from .vendor import Produce, Route, Trouble, VendorApi, VendorFactory

HANG_SECONDS = 600.0
MALFORMED = b'{"success": true, "data": [{"campa'
VENDORS: tuple[VendorFactory, ...] = (ExperitureApi, GreenArrowApi)
"""The vendor APIs a ``Simulator`` serves unless told otherwise (built in this order)."""

V = TypeVar("V", bound=VendorApi)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Simulator:
    """The vendor APIs' worlds on one clock and one seeded random source, served together."""

    def __init__(
        self, settings: SimulatorSettings | None = None, vendors: Sequence[VendorFactory] = VENDORS
    ) -> None:
        self.settings = settings or SimulatorSettings()
        self.rng = random.Random(self.settings.seed)  # noqa: S311 - a simulation, not security
        self.clock = SimClock(self.settings.speed)
        self.vendors: dict[str, VendorApi] = {}
        for make in vendors:
            vendor = make(self.settings, self.rng, self.clock)
            if vendor.name in self.vendors:
                raise ValueError(f"two vendor APIs named {vendor.name!r}")
            self.vendors[vendor.name] = vendor
        self.faults = FaultPlan(self.rng)
        self.stats: Counter[tuple[str, str, int]] = Counter()
        self.request_times: list[float] = []
        self.buckets: dict[tuple[str, str], tuple[float, float]] = {}  # (tokens, stamp)

    def vendor(self, kind: type[V]) -> V:
        """The registered vendor API of this type."""
        for vendor in self.vendors.values():
            if isinstance(vendor, kind):
                return vendor
        raise LookupError(f"no {kind.__name__} registered")

    # The default vendors' worlds, by name: what tests and benchmarks reach into.

    @property
    def experiture(self) -> ExperitureWorld:
        return self.vendor(ExperitureApi).world

    @property
    def greenarrow(self) -> GreenArrowWorld:
        return self.vendor(GreenArrowApi).world

    # -- shared plumbing -------------------------------------------------------------

    def _serve(self, vendor: VendorApi, route: Route) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            return await self.respond(request, vendor, route.endpoint, route.read)

        return handle

    async def respond(
        self,
        request: web.Request,
        vendor: VendorApi,
        endpoint: str,
        read: Callable[[web.Request], Awaitable[Produce]],
    ) -> web.StreamResponse:
        """Answer one API request, through any fault that matches it, and count it."""
        self.request_times.append(time.monotonic())
        api, correlation = vendor.name, uuid.uuid4().hex
        if not self._within_rate(vendor, endpoint):
            self.stats[(api, endpoint, 429)] += 1
            resp = self._error(vendor, 429, Trouble.RATE_LIMITED, correlation)
            resp.headers["Retry-After"] = "1"
            return resp
        fault = self.faults.pick(api, endpoint)
        if fault is not None:
            early = await self._early_fault(request, fault, vendor, correlation)
            if early is not None:
                self.stats[(api, endpoint, early.status)] += 1
                return early
        if fault is not None and fault.kind == "same_page":
            request = request.clone(rel_url=hostile.first_page(request.rel_url))
        status, body = (await read(request))()
        if fault is not None and status == 200 and isinstance(body, dict):
            body = self._mutate(fault, body, vendor)
        self.stats[(api, endpoint, status)] += 1
        return self._json(vendor, status, body, correlation)

    def _mutate(self, fault: Fault, body: dict[str, Any], vendor: VendorApi) -> Any:
        """A successful answer, as a fault that lets it through changes it."""
        if fault.kind == "nulls":
            body["data"] = sprinkle_nulls(body.get("data"), self.rng)
        elif fault.kind == "unknown_values":
            body["data"] = unknown_values(body.get("data"))
        elif fault.kind in hostile.BODY_MUTATIONS:
            return hostile.BODY_MUTATIONS[fault.kind](body, vendor)
        return body

    def _within_rate(self, vendor: VendorApi, endpoint: str) -> bool:
        """The vendor's own limit (per API and endpoint class), when the settings give one."""
        kind = vendor.endpoint_class(endpoint)
        api = vendor.name
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
        self, request: web.Request, fault: Fault, vendor: VendorApi, correlation: str
    ) -> web.StreamResponse | None:
        """The answer for a fault that replaces the vendor's; None to let it answer."""
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
            return self._error(vendor, fault.status, Trouble.FAILURE, correlation)
        if fault.kind == "rate_limit":
            resp = self._error(vendor, 429, Trouble.RATE_LIMITED, correlation)
            resp.headers["Retry-After"] = f"{fault.retry_after:g}"
            return resp
        if fault.kind == "conflict":
            return self._error(vendor, 409, Trouble.CONFLICT, correlation)
        if fault.kind == "envelope_error":
            return self._error(vendor, 200, Trouble.FAILURE, correlation)
        if fault.kind == "malformed":
            return web.Response(status=200, body=MALFORMED, content_type="application/json")
        return None

    def _json(self, vendor: VendorApi, status: int, body: Any, correlation: str) -> web.Response:
        vendor.mark(body, correlation)
        resp = web.json_response(body, status=status)
        resp.headers[vendor.correlation_header] = correlation
        return resp

    def _error(
        self, vendor: VendorApi, status: int, trouble: Trouble, correlation: str
    ) -> web.Response:
        return self._json(vendor, status, vendor.error_body(status, trouble), correlation)

    # -- control ---------------------------------------------------------------------

    def _truth(self, vendor: VendorApi) -> Handler:
        async def truth(request: web.Request) -> web.Response:
            now = self.clock.now()
            return web.json_response({"now": now, "campaigns": vendor.truth(now)})

        return truth

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
        for vendor in self.vendors.values():
            for route in vendor.routes():
                r.add_route(route.method, route.path, self._serve(vendor, route))
            r.add_get(f"/_sim/{vendor.name}/truth", self._truth(vendor))
            r.add_routes(vendor.control_routes())
        r.add_route("POST", "/_sim/faults", self.ctl_faults)
        r.add_route("DELETE", "/_sim/faults", self.ctl_faults)
        r.add_post("/_sim/clock", self.ctl_clock)
        r.add_get("/_sim/stats", self.ctl_stats)
        r.add_post("/_sim/stats/reset", self.ctl_stats)
        return app

    async def start(
        self, host: str = "127.0.0.1", port: int = 0, ssl_context: ssl.SSLContext | None = None
    ) -> tuple[web.AppRunner, str]:
        """Listen on loopback (over TLS with ``ssl_context``, as a self-hosted vendor behind
        a private CA may); returns the runner (to clean up) and the base URL."""
        runner = web.AppRunner(self.app(), access_log=None, handler_cancellation=True)
        await runner.setup()
        site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
        await site.start()
        bound = runner.addresses[0]
        scheme = "https" if ssl_context is not None else "http"
        return runner, f"{scheme}://{bound[0]}:{bound[1]}"


class SimulatorThread:
    """The simulator on its own event loop in a thread, for synchronous callers."""

    def __init__(
        self, settings: SimulatorSettings | None = None, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self.sim = Simulator(settings)
        self.ssl_context = ssl_context
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="simulator", daemon=True)
        self._runner: web.AppRunner | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._runner, self.url = self._loop.run_until_complete(
            self.sim.start(ssl_context=self.ssl_context)
        )
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
