"""``--web.config.file`` as the server applies it: TLS for the listening socket, and a
guard in front of every request (rate limit, basic auth) with the configured headers on
every response.
"""

from __future__ import annotations

import dataclasses
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from ..config import ConfigError
from .access import REALM, BasicAuthGate, BasicAuthUsers, Clock, rate_limit_for
from .schema import WebConfig, parse_web_config
from .tls import ServerContext, server_context

log = logging.getLogger("campaign_exporter.webconfig")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclasses.dataclass(frozen=True)
class LoadedWebConfig:
    """One reading of the file, with what the server needs built from it."""

    config: WebConfig
    tls: ServerContext | None
    users: BasicAuthUsers | None

    @property
    def headers(self) -> dict[str, str]:
        # "Unset if blank", says the toolkit's documentation.
        return {k: v for k, v in self.config.http_server_config.headers.items() if v}


def _read(path: Path) -> LoadedWebConfig:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(
            ["file not found" if isinstance(exc, FileNotFoundError) else f"cannot read: {reason}"]
        ) from None
    try:
        config = parse_web_config(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(["not UTF-8 text"]) from None
    users = config.basic_auth_users
    return LoadedWebConfig(
        config, server_context(config, path.parent), BasicAuthUsers(users) if users else None
    )


class WebConfigFile:
    """The web config file, read once at startup."""

    def __init__(self, path: Path, clock: Clock = time.monotonic) -> None:
        """Reads the file; ConfigError when it is invalid."""
        self.path = path
        self.loaded = _read(path)
        self.limit = rate_limit_for(self.loaded.config.rate_limit, None, clock)
        self.gate = BasicAuthGate()

    def current(self) -> LoadedWebConfig:
        return self.loaded

    def ssl_context(self) -> ssl.SSLContext | None:
        """The context to listen with, or None for plain HTTP."""
        return self.loaded.tls

    def install(self, app: web.Application) -> None:
        """Every request passes the guard; every response gets the configured headers."""

        @web.middleware
        async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
            loaded = self.current()
            if self.limit is not None and not self.limit.allow():
                return web.Response(status=429, text="Too Many Requests\n")
            if loaded.users is not None and not await self.gate.allowed(
                request.headers.get("Authorization"), loaded.users
            ):
                return web.Response(
                    status=401, text="Unauthorized\n", headers={"WWW-Authenticate": REALM}
                )
            return await handler(request)

        # A response prepared inside a handler (a streamed /metrics) has sent its headers
        # before a middleware sees it: add them as it is prepared instead.
        async def add_headers(request: web.BaseRequest, response: web.StreamResponse) -> None:
            response.headers.update(self.current().headers)

        app.middlewares.append(guard)
        app.on_response_prepare.append(add_headers)


def load_web_config(path: Path) -> WebConfigFile:
    """The web config file, read and checked; ConfigError lists what is wrong."""
    return WebConfigFile(path)
