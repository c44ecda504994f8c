"""How a source's connections leave: TLS from ``tls_config`` and a proxy from ``proxy_url``
(or the environment), over aiohttp's pool, the transport under the upstream client.

TLS is applied where the connection is made (the aiohttp connector): httpx's ``verify``
and ``cert`` never reach a transport of our own. The PEM files are read again when they
change, for the connections made after, into the context ``exporter.config.egress``
builds (the config check builds the same); a proxy's credentials and CONNECT headers are
secrets and never printed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import ssl
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp
import anyio
import httpx2
from httpx_aiohttp.httpx2 import AiohttpTransport

from ..clock import SYSTEM_CLOCK, Clock
from ..config.egress import TlsFileError, environment_proxies, ssl_words, tls_context, tls_files
from ..config.localfile import FileRefused, file_version
from ..config.schema import SourceConfig, TlsConfig
from ..config.types import ProxyUrl, parse_proxy_url

KEEPALIVE = 15.0  # seconds an idle pooled connection is kept
PROBE_TIMEOUT = 10.0  # seconds a handshake probe may take, the server's answer included
RECHECK = 1.0  # seconds between looks at whether a TLS file changed (stat, not read)
# A server that hangs up after the handshake without answering a request refused us.
_REFUSED = (
    "the server closed the connection after the handshake: it does not accept the "
    "client certificate (tls_config.cert_file)"
)
_NO_CERTIFICATE = (
    "the server closed the connection after the handshake: it may require a client "
    "certificate (tls_config.cert_file and key_file)"
)


def _entries(text: str) -> tuple[str, ...]:
    return tuple(e.strip() for e in text.split(",") if e.strip())


@dataclass(frozen=True)
class ProxyRoute:
    """Which requests go through which proxy: by the URL's scheme, but for ``no_proxy``."""

    by_scheme: Mapping[str, ProxyUrl] = field(default_factory=dict)
    no_proxy: tuple[str, ...] = ()
    connect_headers: Mapping[str, str] | None = None

    def proxy_for(self, url: httpx2.URL) -> ProxyUrl | None:
        proxy = self.by_scheme.get(url.scheme)
        return None if proxy is None or _bypassed(url.host, self.no_proxy) else proxy


def _bypassed(host: str, no_proxy: tuple[str, ...]) -> bool:
    """Whether ``host`` matches a ``no_proxy`` entry: a host name or domain (a leading dot
    or not: subdomains match too), an IP address or a CIDR network, or ``*``."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for entry in no_proxy:
        if entry == "*":
            return True
        if address is not None:
            try:
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                pass
            continue
        domain = entry.lstrip(".").lower()
        if host.lower() == domain or host.lower().endswith("." + domain):
            return True
    return False


@dataclass(frozen=True)
class Egress:
    """A source's TLS and proxy settings, as the transport applies them."""

    tls: TlsConfig | None = None
    route: ProxyRoute = ProxyRoute()

    @classmethod
    def of(cls, config: SourceConfig) -> Egress:
        """The settings of ``config``; with ``proxy_from_environment``, the environment's
        proxies as the source starts (a bad one the config check told of goes direct)."""
        headers = None
        if config.proxy_connect_header:
            headers = {
                name: ", ".join(value.reveal() for value in values)
                for name, values in config.proxy_connect_header.items()
            }
        by_scheme: dict[str, ProxyUrl] = {}
        no_proxy = _entries(config.no_proxy or "")
        if config.proxy_url is not None:
            by_scheme = {"http": config.proxy_url, "https": config.proxy_url}
        elif config.proxy_from_environment:
            for scheme, raw in environment_proxies().items():
                with contextlib.suppress(ValueError):
                    by_scheme[scheme] = parse_proxy_url(raw)
            no_proxy = _entries(urllib.request.getproxies_environment().get("no", ""))
        return cls(config.tls_config, ProxyRoute(by_scheme, no_proxy, headers))


class EgressTransport(httpx2.AsyncBaseTransport):
    """httpx over aiohttp's connection pool (the cheapest CPU per request of the transports
    ``bench/client_cost.py`` compares), with the source's TLS context on its connector and
    each request sent direct or through its proxy. A change of a TLS file opens a new pool
    for the requests after it."""

    def __init__(
        self, concurrency: int, egress: Egress | None = None, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self.concurrency = concurrency
        self.egress = egress or Egress()
        self.clock = clock
        self._checked = -RECHECK  # when the TLS files were last looked at (monotonic)
        self._version: tuple[tuple[int, ...], ...] | None = None
        self._pool: _Pool | None = None
        self._retired: list[_Pool] = []
        self._lock = anyio.Lock()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        pool = await self._current()
        tls = self.egress.tls
        if tls is not None and tls.server_name:
            request.extensions["sni_hostname"] = tls.server_name
        proxy = self.egress.route.proxy_for(request.url)
        return await pool.transport(proxy, self.egress.route.connect_headers).handle_async_request(
            request
        )

    async def _current(self) -> _Pool:
        """The pool, a new one when a TLS file changed (looked at once a ``RECHECK``)."""
        tls, now = self.egress.tls, self.clock.monotonic()
        if self._pool is not None and (tls is None or now - self._checked < RECHECK):
            return self._pool
        self._checked = now
        version = _versions(tls) if tls is not None else None
        if self._pool is not None and version == self._version:
            return self._pool
        async with self._lock:
            if self._pool is None or version != self._version:
                ctx = await anyio.to_thread.run_sync(tls_context, tls) if tls else None
                if self._pool is not None:
                    self._retired.append(self._pool)  # requests in flight finish on it
                self._pool, self._version = _Pool(self.concurrency, ctx), version
            return self._pool

    async def handshake_problem(self, url: httpx2.URL) -> str | None:
        """Why a TLS connection to ``url`` fails, found by making one and asking for
        ``HEAD`` of its path: under TLS 1.3 a server refuses a client certificate only
        after the client has finished its handshake, so the request saw a closed connection
        and not the server's alert. An alert, or a hang-up before any answer, is the
        problem; any answer at all, or no verdict within the timeout, is not (None)."""
        if url.scheme != "https" or self._pool is None:
            return None
        ctx = self._pool.ctx or ssl.create_default_context()
        tls = self.egress.tls
        name = tls.server_name if tls is not None and tls.server_name else url.host
        port = url.port or 443
        proxy = self.egress.route.proxy_for(url)
        head = (
            f"HEAD {url.raw_path.decode()} HTTP/1.1\r\n"
            f"Host: {url.host}\r\nConnection: close\r\n\r\n"
        )
        try:
            with anyio.fail_after(PROBE_TIMEOUT):
                reader, writer = await self._open_tunnel(url.host, port, proxy)
                try:
                    await writer.start_tls(ctx, server_hostname=name)
                    writer.write(head.encode())
                    await writer.drain()
                    answered = await reader.read(1)
                except (ConnectionResetError, BrokenPipeError):
                    answered = b""
                finally:
                    writer.close()
        except ssl.SSLError as exc:
            return ssl_words(exc)
        except (OSError, TimeoutError, ValueError):
            return None
        if answered:
            return None  # it answers: the dropped connection was something else
        return _REFUSED if tls is not None and tls.cert_file else _NO_CERTIFICATE

    async def _open_tunnel(
        self, host: str, port: int, proxy: ProxyUrl | None
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP connection to ``host:port``, through ``proxy``'s CONNECT when given."""
        if proxy is None:
            return await asyncio.open_connection(host, port)
        parts = urlsplit(proxy.address)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
        lines = [f"CONNECT {host}:{port} HTTP/1.1", f"Host: {host}:{port}"]
        if proxy.username is not None:
            pair = f"{proxy.username}:{proxy.password.reveal() if proxy.password else ''}"
            lines.append("Proxy-Authorization: Basic " + base64.b64encode(pair.encode()).decode())
        lines += [f"{k}: {v}" for k, v in (self.egress.route.connect_headers or {}).items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith((b"HTTP/1.1 200", b"HTTP/1.0 200")):
            writer.close()
            raise ValueError("the proxy refused the tunnel")
        return reader, writer

    async def aclose(self) -> None:
        for pool in [*self._retired, *([self._pool] if self._pool else [])]:
            await pool.aclose()


def _versions(tls: TlsConfig) -> tuple[tuple[int, ...], ...]:
    out = []
    for key, path in tls_files(tls):
        try:
            out.append(file_version(path))
        except FileRefused as exc:
            raise TlsFileError(f"{key}: {exc}: {path}") from None
    return tuple(out)


class _Pool:
    """One aiohttp session (connector, TLS context) and a transport over it per proxy."""

    def __init__(self, concurrency: int, ctx: ssl.SSLContext | None) -> None:
        self.ctx = ctx
        self.concurrency = concurrency
        self.session: aiohttp.ClientSession | None = None
        self.transports: dict[tuple[str, str | None] | None, AiohttpTransport] = {}

    def _session(self) -> aiohttp.ClientSession:
        if self.session is None:
            connector = aiohttp.TCPConnector(
                limit=self.concurrency,
                ttl_dns_cache=300,
                keepalive_timeout=KEEPALIVE,
                ssl=self.ctx if self.ctx is not None else True,
            )
            self.session = aiohttp.ClientSession(connector=connector)
        return self.session

    def transport(
        self, proxy: ProxyUrl | None, headers: Mapping[str, str] | None
    ) -> AiohttpTransport:
        key = (proxy.address, proxy.username) if proxy else None
        found = self.transports.get(key)
        if found is None:
            via = None
            if proxy is not None:
                auth = (
                    (proxy.username, proxy.password.reveal() if proxy.password else "")
                    if proxy.username is not None
                    else None
                )
                via = httpx2.Proxy(proxy.address, auth=auth, headers=dict(headers or {}))
            found = self.transports[key] = AiohttpTransport(client=self._session, proxy=via)
        return found

    async def aclose(self) -> None:
        if self.session is not None:
            await self.session.close()
