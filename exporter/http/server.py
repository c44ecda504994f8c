"""The HTTP side: /metrics from the cached exposition, landing page, health, readiness, reload.

What a client can hold of the server is bounded: concurrent scrapes, open connections,
how long a request head, an idle keep-alive or a stalled reader may take, and how long
shutdown waits for any of them.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
from aiohttp import web

from ..config.thresholds import DEFAULTS, Thresholds
from ..exposition.render import OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE
from ..exposition.store import ExpositionStore
from ..telemetry import Telemetry
from .connections import BACKLOG, Connections, descriptor_cap, reset
from .statuspage import render_status_page
from .triage import Query
from .webconfig import WebConfigFile

log = logging.getLogger("campaign_exporter.http")

ReloadFn = Callable[[], Awaitable[str | None]]
# The alerts' thresholds in force, as the running config sets them (the status page's).
ThresholdsFn = Callable[[], Thresholds]
# Where to serve: an address to bind (``host:port``), or a socket already listening
# (one systemd passed).
Listener = str | socket.socket
# Paths of the operational endpoints, which the metrics may not take.
RESERVED_PATHS = ("/-/healthy", "/-/ready", "/-/reload")
# The largest piece of a body handed to the socket at once. The event loop copies what the
# socket does not take into its own buffer; bounded pieces keep that copy small, where one
# write of the cached body would copy all of it for every client that reads slowly.
CHUNK = 64 * 1024


@dataclass(frozen=True)
class ServingLimits:
    """How much of the server one client may hold, and for how long (seconds).

    ``max_requests`` bounds concurrent /metrics requests (node_exporter's
    --web.max-requests) and ``max_connections`` open connections (Prometheus'
    --web.max-connections); 0 lifts either. A request head is due ``header_timeout``
    after a connection opens (a scraper sends its head in one packet). A kept-alive
    connection may idle ``idle_timeout``: longer than Prometheus' default 1m scrape
    interval, so a scraper keeps its connection, and as long as Go's HTTP client keeps an
    idle one. ``write_timeout`` resets a client whose socket takes no ``CHUNK`` of its
    body for that long. On shutdown, requests in flight get ``shutdown_grace``.
    """

    max_requests: int = 40
    max_connections: int = 512
    header_timeout: float = 5.0
    idle_timeout: float = 90.0
    write_timeout: float = 10.0
    shutdown_grace: float = 1.0


CONNECTIONS = web.AppKey("connections", Connections)
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


def requested_names(request: web.Request) -> frozenset[str] | None:
    """The families a scrape asks for with ``name[]=...`` (repeated), as prometheus_client
    reads it; None when it asks for all."""
    names = request.query.getall("name[]", [])
    return frozenset(names) if names else None


class Handlers:
    def __init__(
        self,
        store: ExpositionStore,
        telemetry: Telemetry,
        reload: ReloadFn | None,
        limits: ServingLimits,
        metrics_path: str,
        thresholds: ThresholdsFn,
    ) -> None:
        self.metrics_path = metrics_path
        self.thresholds = thresholds
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
        names = requested_names(request)
        variant = self.store.cached(openmetrics, gzip, names)
        if variant is None:
            variant = await anyio.to_thread.run_sync(self.store.build, openmetrics, gzip, names)
        tail = self.store.dynamic(openmetrics, names)
        content_type = OPENMETRICS_CONTENT_TYPE if openmetrics else TEXT_CONTENT_TYPE
        headers = {"Content-Type": content_type, "Vary": "Accept, Accept-Encoding"}
        if gzip:
            assert variant.gzip is not None
            headers["Content-Encoding"] = "gzip"
            parts: tuple[bytes, ...] = (*variant.gzip.parts, variant.gzip.closing(tail))
        else:
            assert variant.chunks is not None
            parts = (*variant.chunks, tail)
        resp = web.StreamResponse(headers=headers)
        resp.content_length = sum(len(p) for p in parts)
        await send(request, resp, () if request.method == "HEAD" else parts, self.limits)
        return resp

    async def healthy(self, request: web.Request) -> web.Response:
        return web.Response(text="Healthy\n")

    async def ready(self, request: web.Request) -> web.Response:
        if self.telemetry.ready:
            return web.Response(text="Ready\n")
        waiting = self.telemetry.waiting_for()
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
        query = Query.from_params(request.query)
        recent = self.telemetry.recent()  # on the loop: telemetry's tallies are not shared
        backlogs = self.telemetry.backlogs()  # on the loop: the schedulers' queues are not
        page = await anyio.to_thread.run_sync(
            functools.partial(
                render_status_page,
                self.telemetry,
                query,
                recent,
                metrics_path=self.metrics_path,
                backlogs=backlogs,
                thresholds=self.thresholds(),
            )
        )
        # Upstream text is made safe where it enters; "replace" is the last line of defence.
        body = page.encode("utf-8", "replace")
        return web.Response(body=body, content_type="text/html", charset="utf-8")


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


def _drop(request: web.Request) -> bool:
    if request.transport is not None:
        log.debug("dropping a client that stopped reading", extra={"kv": {"path": request.path}})
        reset(request.transport)
    return False


def make_app(
    store: ExpositionStore,
    telemetry: Telemetry,
    reload: ReloadFn | None = None,
    web_config: WebConfigFile | None = None,
    limits: ServingLimits | None = None,
    telemetry_path: str = "/metrics",
    thresholds: ThresholdsFn = lambda: DEFAULTS,
) -> web.Application:
    """The endpoints; metrics on ``telemetry_path``, which takes the place of the status
    page when it is ``/`` (as node_exporter's landing page gives way); the status page
    applies the ``thresholds`` in force."""
    limits = limits or ServingLimits()
    conns = Connections(
        limits.header_timeout, limits.idle_timeout, descriptor_cap(limits.max_connections)
    )
    h = Handlers(store, telemetry, reload, limits, telemetry_path, thresholds)
    app = web.Application(middlewares=[conns.track])
    app[CONNECTIONS] = conns
    app[LIMITS] = limits
    if web_config is not None:
        web_config.install(app)  # access control, rate limit and headers, per request
    if telemetry_path != "/":
        app.router.add_get("/", h.landing)
    app.router.add_get(telemetry_path, h.metrics)
    app.router.add_get("/-/healthy", h.healthy)
    app.router.add_get("/-/ready", h.ready)
    app.router.add_post("/-/reload", h.reload)
    app.router.add_put("/-/reload", h.reload)
    return app


def check_telemetry_path(path: str) -> str:
    """A path for the metrics: absolute, plain, and not an operational endpoint's."""
    if not path.startswith("/") or any(c in path for c in "?#{}") or not path.isprintable():
        raise ValueError(f'invalid path "{path}": expected an absolute path such as /metrics')
    if path in RESERVED_PATHS:
        raise ValueError(f'"{path}" is taken by the endpoint of that name')
    return path


def parse_listen_address(address: str) -> tuple[str | None, int]:
    """``host:port``, ``:port`` (every interface) or ``[v6]:port``."""
    host, sep, port_text = address.rpartition(":")
    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        raise ValueError(f'invalid listen address "{address}": expected host:port')
    host = host.strip("[]")
    return (host or None), int(port_text)


async def serve(
    app: web.Application,
    listeners: Sequence[Listener],
    ssl_context: object | None = None,
    on_listening: Callable[[list[str]], None] | None = None,
) -> None:
    """Serve on every listener until cancelled; then stop within about ``shutdown_grace``
    seconds. ``on_listening`` gets every address served, once all are."""
    conns, limits = app[CONNECTIONS], app[LIMITS]
    # aiohttp's own keep-alive timer is only a backstop: the connections' deadlines
    # come first, and they close with abort(), which frees a stalled socket at once.
    keepalive = limits.idle_timeout + limits.header_timeout
    runner = web.AppRunner(
        app,
        handle_signals=False,
        access_log=None,
        keepalive_timeout=keepalive,
        shutdown_timeout=limits.shutdown_grace,
    )
    await runner.setup()
    assert runner.server is not None
    loop = asyncio.get_running_loop()
    previous_handler = loop.get_exception_handler()
    loop.set_exception_handler(_accept_errors(previous_handler))
    servers: list[asyncio.Server] = []
    try:
        # A TLS handshake has the same deadline as a request head (asyncio's default: 60 s).
        tls: dict[str, Any] = (
            {"ssl": ssl_context, "ssl_handshake_timeout": limits.header_timeout}
            if ssl_context is not None
            else {}
        )
        factory = conns.wrap(runner.server)
        for listener in listeners:
            if isinstance(listener, socket.socket):
                where: dict[str, Any] = {"sock": listener}
            else:
                host, port = parse_listen_address(listener)
                where = {"host": host, "port": port, "reuse_address": True}
            try:
                servers.append(await loop.create_server(factory, backlog=BACKLOG, **where, **tls))
            except OSError as exc:
                if isinstance(listener, socket.socket):
                    raise
                raise ListenError(listener, host, exc) from None
        if on_listening is not None:
            on_listening([_format_addr(s.getsockname()) for srv in servers for s in srv.sockets])
        await conns.enforce()
    finally:
        with anyio.CancelScope(shield=True):
            await _stop(servers, conns, runner, limits.shutdown_grace)
            loop.set_exception_handler(previous_handler)


async def _stop(
    servers: list[asyncio.Server], conns: Connections, runner: web.AppRunner, grace: float
) -> None:
    """Stop accepting, give requests in flight ``grace`` seconds, then cut everyone off."""
    for server in servers:
        server.close()
    with anyio.move_on_after(grace):
        while conns.busy_count():
            await anyio.sleep(0.02)
    conns.abort_all()
    await runner.cleanup()


ExceptionHandler = Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object]


def _accept_errors(previous: ExceptionHandler | None) -> ExceptionHandler:
    """asyncio hands each accept() that fails for want of descriptors to the loop's
    exception handler, with a traceback, up to a hundred times per second; make it one
    line of the server's logger, which is rate-limited."""

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if context.get("message") == "socket.accept() out of system resource":
            err = os.strerror(exc.errno) if isinstance(exc, OSError) and exc.errno else str(exc)
            log.error("cannot accept connections", extra={"kv": {"err": err}})
        elif previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    return handler


class ListenError(Exception):
    """The listen address cannot be served; the message is one line for an operator."""

    def __init__(self, address: str, host: str | None, exc: OSError) -> None:
        problem = _bind_problem(host, exc)
        super().__init__(f'cannot serve: --web.listen-address "{address}": {problem}')


def _bind_problem(host: str | None, exc: OSError) -> str:
    if isinstance(exc, socket.gaierror):
        return f'cannot resolve host name "{host}": {exc.strerror or exc}'
    known = {
        errno.EADDRINUSE: "address already in use (another process listens there)",
        errno.EADDRNOTAVAIL: "this host has no such address",
        errno.EACCES: "permission denied (ports below 1024 need privileges)",
    }
    if exc.errno in known:
        return known[exc.errno]
    return os.strerror(exc.errno).lower() if exc.errno else str(exc)


def _format_addr(addr: object) -> str:
    if isinstance(addr, tuple) and len(addr) >= 2:
        host = str(addr[0])
        return f"[{host}]:{addr[1]}" if ":" in host else f"{host}:{addr[1]}"
    return str(addr)
