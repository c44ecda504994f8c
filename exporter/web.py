"""The HTTP side: /metrics from the cached exposition, landing page, health, readiness, reload.

What a client can hold of the server is bounded: concurrent scrapes, how long a stalled
reader may take, and how long shutdown waits for requests in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
from aiohttp import web

from .exposition import OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE
from .statuspage import render_status_page
from .store import ExpositionStore
from .telemetry import Telemetry
from .webconfig import WebConfig, middlewares

log = logging.getLogger("campaign_exporter.http")

ReloadFn = Callable[[], Awaitable[str | None]]
# The largest piece of a body handed to the socket at once. The event loop copies what the
# socket does not take into its own buffer; bounded pieces keep that copy small, where one
# write of the cached body would copy all of it for every client that reads slowly.
CHUNK = 64 * 1024


@dataclass(frozen=True)
class ServingLimits:
    """How much of the server one client may hold, and for how long (seconds).

    ``max_requests`` bounds concurrent /metrics requests (node_exporter's
    --web.max-requests); 0 lifts it. ``write_timeout`` resets a client whose socket takes
    no ``CHUNK`` of its body for that long. On shutdown, requests in flight get
    ``shutdown_grace``.
    """

    max_requests: int = 40
    write_timeout: float = 10.0
    shutdown_grace: float = 1.0


LIMITS = web.AppKey("limits", ServingLimits)


def wants_openmetrics(accept: str) -> bool:
    return "application/openmetrics-text" in accept


def wants_gzip(accept_encoding: str) -> bool:
    for part in accept_encoding.split(","):
        coding, _, params = part.partition(";")
        if coding.strip().lower() != "gzip":
            continue
        quality = params.strip()
        if quality.startswith("q="):
            try:
                return float(quality[2:]) > 0
            except ValueError:
                return False
        return True
    return False


class Handlers:
    def __init__(
        self,
        store: ExpositionStore,
        telemetry: Telemetry,
        reload: ReloadFn | None,
        limits: ServingLimits,
    ) -> None:
        self.store = store
        self.telemetry = telemetry
        self.reload_fn = reload
        self.limits = limits
        self.scrapes_in_flight = 0

    async def metrics(self, request: web.Request) -> web.StreamResponse:
        limit = self.limits.max_requests
        if limit and self.scrapes_in_flight >= limit:
            return web.Response(
                status=503,
                text=f"Limit of concurrent requests reached ({limit}), try again later.\n",
            )
        self.scrapes_in_flight += 1
        try:
            return await self._metrics(request)
        finally:
            self.scrapes_in_flight -= 1

    async def _metrics(self, request: web.Request) -> web.StreamResponse:
        openmetrics = wants_openmetrics(request.headers.get("Accept", ""))
        gzip = wants_gzip(request.headers.get("Accept-Encoding", ""))
        variant = self.store.cached(openmetrics, gzip)
        if variant is None:
            variant = await anyio.to_thread.run_sync(self.store.build, openmetrics, gzip)
        tail = self.store.dynamic(openmetrics)
        content_type = OPENMETRICS_CONTENT_TYPE if openmetrics else TEXT_CONTENT_TYPE
        headers = {"Content-Type": content_type, "Vary": "Accept, Accept-Encoding"}
        parts = (variant.body, tail)
        if gzip:
            assert variant.gzip is not None
            headers["Content-Encoding"] = "gzip"
            parts = (variant.gzip.data, variant.gzip.closing(tail))
        resp = web.StreamResponse(headers=headers)
        resp.content_length = sum(len(p) for p in parts)
        await send(request, resp, () if request.method == "HEAD" else parts, self.limits)
        return resp

    async def healthy(self, request: web.Request) -> web.Response:
        return web.Response(text="Healthy\n")

    async def ready(self, request: web.Request) -> web.Response:
        if self.telemetry.ready:
            return web.Response(text="Ready\n")
        waiting = sorted(n for n, s in self.telemetry.sources.items() if not s.ready)
        return web.Response(
            status=503,
            text="Not ready: waiting for a first refresh of " + ", ".join(waiting) + "\n",
        )

    async def reload(self, request: web.Request) -> web.Response:
        if self.reload_fn is None:
            return web.Response(status=405, text="reload is not available in this mode\n")
        error = await self.reload_fn()
        if error:
            return web.Response(status=500, text=f"failed to reload config: {error}\n")
        return web.Response(text="config reloaded\n")

    async def landing(self, request: web.Request) -> web.Response:
        page = await anyio.to_thread.run_sync(render_status_page, self.telemetry)
        return web.Response(text=page, content_type="text/html")


async def send(
    request: web.Request,
    resp: web.StreamResponse,
    parts: Sequence[bytes],
    limits: ServingLimits,
) -> bool:
    """Write the response in ``CHUNK`` pieces, waiting for the socket to take each.

    A client that takes nothing for ``write_timeout`` is reset, and the unsent rest
    dropped. False when the body did not go out whole.
    """
    try:
        if not await _within(limits.write_timeout, resp.prepare(request)):
            return _drop(request)
        for part in parts:
            view = memoryview(part)
            for start in range(0, len(view), CHUNK):
                chunk = view[start : start + CHUNK]
                if not await _within(limits.write_timeout, _write(request, resp, chunk)):
                    return _drop(request)
        return await _within(limits.write_timeout, resp.write_eof()) or _drop(request)
    except ConnectionError:
        return False  # the client went away; aiohttp closes the connection


async def _write(request: web.Request, resp: web.StreamResponse, chunk: memoryview) -> None:
    await resp.write(chunk)
    # aiohttp waits for the socket only every second piece or so; wait after each.
    await request.writer.drain()


async def _within(seconds: float, step: Awaitable[Any]) -> bool:
    with anyio.move_on_after(seconds):
        await step
        return True
    return False


def reset(transport: asyncio.Transport) -> None:
    """Close with a reset, dropping unsent bytes at once.

    ``close()`` waits for a reader that may never come, keeping the descriptor and the
    buffer; even ``abort()`` leaves what the kernel holds to be sent after our close. A
    zero linger time makes the kernel discard it too, and tells the client plainly.
    """
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # OSError: the peer closed first, so there is nothing left to discard.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def _drop(request: web.Request) -> bool:
    if request.transport is not None:
        log.debug("dropping a client that stopped reading", extra={"kv": {"path": request.path}})
        reset(request.transport)
    return False


def make_app(
    store: ExpositionStore,
    telemetry: Telemetry,
    reload: ReloadFn | None = None,
    web_config: WebConfig | None = None,
    limits: ServingLimits | None = None,
) -> web.Application:
    limits = limits or ServingLimits()
    h = Handlers(store, telemetry, reload, limits)
    app = web.Application(middlewares=middlewares(web_config) if web_config else ())
    app[LIMITS] = limits
    if web_config is not None and web_config.http_server_config.headers:
        extra = dict(web_config.http_server_config.headers)

        # /metrics streams, so its headers are sent before a middleware sees the response.
        async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
            response.headers.update(extra)

        app.on_response_prepare.append(add_headers)
    app.router.add_get("/", h.landing)
    app.router.add_get("/metrics", h.metrics)
    app.router.add_get("/-/healthy", h.healthy)
    app.router.add_get("/-/ready", h.ready)
    app.router.add_post("/-/reload", h.reload)
    app.router.add_put("/-/reload", h.reload)
    return app


def parse_listen_address(address: str) -> tuple[str | None, int]:
    """``host:port``, ``:port`` (every interface) or ``[v6]:port``."""
    host, sep, port_text = address.rpartition(":")
    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        raise ValueError(f'invalid listen address "{address}": expected host:port')
    host = host.strip("[]")
    return (host or None), int(port_text)


async def serve(
    app: web.Application,
    address: str,
    ssl_context: object | None = None,
    on_listening: Callable[[list[str]], None] | None = None,
) -> None:
    """Serve until cancelled; then stop within about twice ``shutdown_grace`` seconds."""
    host, port = parse_listen_address(address)
    # aiohttp waits this long for handlers in flight, then as long again for them to take
    # their cancellation (its default is a minute each).
    grace = app[LIMITS].shutdown_grace
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=grace)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, ssl_context=ssl_context)  # type: ignore[arg-type]
        await site.start()
        if on_listening is not None:
            on_listening([_format_addr(a) for a in runner.addresses])
        await anyio.sleep_forever()
    finally:
        with anyio.CancelScope(shield=True):
            await runner.cleanup()


def _format_addr(addr: object) -> str:
    if isinstance(addr, tuple) and len(addr) >= 2:
        host = str(addr[0])
        return f"[{host}]:{addr[1]}" if ":" in host else f"{host}:{addr[1]}"
    return str(addr)
