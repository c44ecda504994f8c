"""The HTTP side: /metrics from the cached exposition, landing page, health, readiness, reload."""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Awaitable, Callable

import anyio
from aiohttp import web

from .exposition import OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE
from .statuspage import render_status_page
from .store import ExpositionStore
from .telemetry import Telemetry
from .triage import Query
from .webconfig import WebConfigFile

ReloadFn = Callable[[], Awaitable[str | None]]


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
        self, store: ExpositionStore, telemetry: Telemetry, reload: ReloadFn | None
    ) -> None:
        self.store = store
        self.telemetry = telemetry
        self.reload_fn = reload

    async def metrics(self, request: web.Request) -> web.StreamResponse:
        openmetrics = wants_openmetrics(request.headers.get("Accept", ""))
        gzip = wants_gzip(request.headers.get("Accept-Encoding", ""))
        variant = self.store.cached(openmetrics, gzip)
        if variant is None:
            variant = await anyio.to_thread.run_sync(self.store.build, openmetrics, gzip)
        tail = self.store.dynamic(openmetrics)
        content_type = OPENMETRICS_CONTENT_TYPE if openmetrics else TEXT_CONTENT_TYPE
        headers = {"Content-Type": content_type, "Vary": "Accept, Accept-Encoding"}
        if gzip:
            assert variant.gzip is not None
            headers["Content-Encoding"] = "gzip"
            return web.Response(body=variant.gzip.finish(tail), headers=headers)
        # Two writes: joining the cached body and the tail would copy the whole body.
        resp = web.StreamResponse(headers=headers)
        resp.content_length = len(variant.body) + len(tail)
        await resp.prepare(request)
        await resp.write(variant.body)
        await resp.write(tail)
        await resp.write_eof()
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
        query = Query.from_params(request.query)
        recent = self.telemetry.recent()  # on the loop: telemetry's tallies are not shared
        page = await anyio.to_thread.run_sync(render_status_page, self.telemetry, query, recent)
        # Upstream text is made safe where it enters; "replace" is the last line of defence.
        body = page.encode("utf-8", "replace")
        return web.Response(body=body, content_type="text/html", charset="utf-8")


def make_app(
    store: ExpositionStore,
    telemetry: Telemetry,
    reload: ReloadFn | None = None,
    web_config: WebConfigFile | None = None,
) -> web.Application:
    h = Handlers(store, telemetry, reload)
    app = web.Application()
    if web_config is not None:
        web_config.install(app)
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
    """Serve until cancelled."""
    host, port = parse_listen_address(address)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, ssl_context=ssl_context)  # type: ignore[arg-type]
        try:
            await site.start()
        except OSError as exc:
            raise ListenError(address, host, exc) from None
        if on_listening is not None:
            on_listening([_format_addr(a) for a in runner.addresses])
        await anyio.sleep_forever()
    finally:
        with anyio.CancelScope(shield=True):
            await runner.cleanup()


class ListenError(Exception):
    """The listen address cannot be served; the message is one line for an operator."""

    def __init__(self, address: str, host: str | None, exc: OSError) -> None:
        super().__init__(f'cannot listen on "{address}": {_bind_problem(host, exc)}')


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
