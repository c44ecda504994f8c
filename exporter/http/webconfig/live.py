"""``--web.config.file`` as the server applies it: read again whenever the file, or a
certificate, key or CA file it names, has changed, so a rotated certificate reaches the
next TLS handshake and a changed user list the next request, without a restart (the
toolkit reads the file on every request and handshake).

A file that turns invalid is not replaced by the last good one: like the toolkit, the
server then answers 500 and refuses TLS handshakes until the file is fixed, since an
access-control file that was just changed should not keep granting what it granted before.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import ssl
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from ...config.errors import ConfigError
from ...config.localfile import MAX_PEM_BYTES, FileRefused, read_local_file
from ...config.yamlfile import MAX_CONFIG_BYTES
from .access import REALM, BasicAuthGate, BasicAuthUsers, Clock, rate_limit_for
from .schema import WebConfig, parse_web_config
from .tls import ServerContext, server_context, watched_files

log = logging.getLogger("campaign_exporter.webconfig")

# One stat() result per watched file (None when it cannot be stat'ed); the whole stamp is
# None while any file is under a second old, as a second write within the same clock tick
# could leave size and times unchanged.
Stamp = tuple[tuple[int, ...] | None, ...] | None
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_SETTLED_NS = 1_000_000_000


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


def _stamp(paths: tuple[Path, ...]) -> Stamp:
    out: list[tuple[int, ...] | None] = []
    recent = time.time_ns() - _SETTLED_NS
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            out.append(None)
            continue
        if max(st.st_mtime_ns, st.st_ctime_ns) > recent:
            return None
        out.append((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
    return tuple(out)


def _file_digest(path: Path, data: bytes | None = None) -> bytes:
    if data is None:
        try:
            data = read_local_file(path, MAX_PEM_BYTES).data
        except FileRefused as exc:
            data = f"refused: {exc}".encode()
    return hashlib.sha256(data).digest()


def _digest(paths: tuple[Path, ...], first: bytes | None = None) -> bytes:
    """What the files hold (``first``: the first file's bytes, already read): a changed
    stamp over unchanged contents reloads nothing."""
    parts = [_file_digest(p, first if i == 0 else None) for i, p in enumerate(paths)]
    return hashlib.sha256(b"".join(parts)).digest()


def _joined(first: Stamp, rest: Stamp) -> Stamp:
    return None if first is None or rest is None else first + rest


@dataclasses.dataclass(frozen=True)
class _Reading:
    """A read of the file: the files it names, the stamp and digest of all of them taken
    before they were read (so a change while reading shows next time), and the result."""

    files: tuple[Path, ...]
    stamp: Stamp
    digest: bytes
    result: LoadedWebConfig | ConfigError


def _read(path: Path) -> _Reading:
    stamp = _stamp((path,))
    try:
        raw = read_local_file(path, MAX_CONFIG_BYTES).data
    except FileRefused as exc:
        return _Reading((), stamp, _digest((path,)), ConfigError([str(exc)]))
    try:
        config = parse_web_config(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return _Reading((), stamp, _digest((path,), raw), ConfigError(["not UTF-8 text"]))
    except ConfigError as exc:
        return _Reading((), stamp, _digest((path,), raw), exc)
    files = watched_files(config, path.parent)
    stamp = _joined(stamp, _stamp(files))
    digest = _digest((path, *files), raw)
    users = config.basic_auth_users
    try:
        result: LoadedWebConfig | ConfigError = LoadedWebConfig(
            config, server_context(config, path.parent), BasicAuthUsers(users) if users else None
        )
    except ConfigError as exc:
        result = exc
    return _Reading(files, stamp, digest, result)


class _PerConnectionContext(ssl.SSLContext):
    """The listening socket's context: each new connection is wrapped by the context of
    the web config as it is at that moment (Go's ``GetConfigForClient``)."""

    source: WebConfigFile
    refusing: ssl.SSLContext

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLObject:
        loaded = self.source.current()
        tls = loaded.tls if loaded is not None else None
        # With no certificate to offer, the handshake fails: the client gets an alert.
        context = tls if tls is not None else self.refusing
        return context.wrap_bio(incoming, outgoing, server_side, server_hostname, session)


class WebConfigFile:
    """The web config file, checked for changes on every request and new connection."""

    def __init__(self, path: Path, clock: Clock = time.monotonic) -> None:
        """Reads the file; ConfigError when it is invalid."""
        self.path = path
        self.clock = clock
        self.reading = _read(path)
        loaded = self.reading.result
        if isinstance(loaded, ConfigError):
            raise loaded
        self.serves_tls = loaded.tls is not None
        self.limit = rate_limit_for(loaded.config.rate_limit, None, clock)
        self.gate = BasicAuthGate()

    def current(self) -> LoadedWebConfig | None:
        """The config now in force, or None while the file is invalid."""
        reading = self.reading
        watched = (self.path, *reading.files)
        stamp = _stamp(watched)
        if stamp is None or stamp != reading.stamp:
            if _digest(watched) != reading.digest:
                self._reload()
            elif stamp is not None:
                self.reading = dataclasses.replace(reading, stamp=stamp)
        result = self.reading.result
        return result if isinstance(result, LoadedWebConfig) else None

    def _reload(self) -> None:
        self.reading = _read(self.path)
        state = self.reading.result
        kv = {"file": str(self.path)}
        if isinstance(state, ConfigError):
            for line in state.lines:
                log.error(
                    "web config invalid: answering 500 and refusing TLS until it is fixed",
                    extra={"kv": {**kv, "err": line}},
                )
            return
        log.info("web config reloaded", extra={"kv": kv})
        if (state.tls is not None) != self.serves_tls:
            log.warning(
                "the web config turns TLS "
                + ("on: still serving plain HTTP" if not self.serves_tls else "off: refusing")
                + " until a restart",
                extra={"kv": kv},
            )
        self.limit = rate_limit_for(state.config.rate_limit, self.limit, self.clock)

    def ssl_context(self) -> ssl.SSLContext | None:
        """The context to listen with, or None when the file had no TLS at startup (as in
        the toolkit, switching between HTTP and HTTPS takes a restart)."""
        if not self.serves_tls:
            return None
        ctx = _PerConnectionContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.source = self
        ctx.refusing = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        return ctx

    def install(self, app: web.Application) -> None:
        """Every request passes the guard; every response gets the configured headers."""

        @web.middleware
        async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
            loaded = self.current()
            if loaded is None:
                return web.Response(status=500, text="Internal Server Error\n")
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
            loaded = self.current()
            if loaded is not None:
                response.headers.update(loaded.headers)

        app.middlewares.append(guard)
        app.on_response_prepare.append(add_headers)


def load_web_config(path: Path) -> WebConfigFile:
    """The web config file, read and checked; ConfigError lists what is wrong."""
    return WebConfigFile(path)
