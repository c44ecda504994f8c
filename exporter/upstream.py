"""HTTP calls to one upstream API: timeouts, bounded concurrency, a rate budget, retries,
bounded reads and a redirect policy.

Every call is counted; every failure comes out as an ``UpstreamError`` with one of a
small fixed set of reasons, never as a library exception. Whatever the answer holds, it
costs at most ``max_response_size`` bytes of memory (after decompression), and no text
from it carries the request's own credential.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import random
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import anyio
from yarl import URL

from .reasons import ErrorReason
from .schema import RateLimit
from .telemetry import Telemetry
from .untrusted import clean_text, scrub

log = logging.getLogger("campaign_exporter.upstream")

MAX_ATTEMPTS = 3
BACKOFF_BASE = 0.25
BACKOFF_CAP = 8.0
RETRY_AFTER_CAP = 120.0
DEFAULT_MAX_RESPONSE = 16 * 1024**2
READ_CHUNK = 64 * 1024
PARSE_OFF_LOOP = 256 * 1024  # larger bodies are parsed in a worker thread
MAX_REDIRECTS = 3
REDIRECTS = frozenset({301, 302, 303, 307, 308})


class UpstreamError(Exception):
    """A failed upstream call, with its ``ErrorReason``."""

    def __init__(
        self,
        reason: str,
        endpoint: str,
        detail: str,
        *,
        status: int | None = None,
        correlation_id: str | None = None,
        error_code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{endpoint}: {detail}")
        self.reason = reason
        self.endpoint = endpoint
        self.detail = detail
        self.status = status
        self.correlation_id = correlation_id
        self.error_code = error_code
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class UpstreamResponse:
    status: int
    body: Any
    correlation_id: str | None


class TokenBucket:
    """Requests per second with a burst, shared by every call of a source."""

    def __init__(self, limit: RateLimit) -> None:
        self.rate = limit.requests_per_second
        self.capacity = float(limit.burst)
        self.tokens = self.capacity
        self.stamp = time.monotonic()
        self.lock = anyio.Lock()

    async def take(self) -> None:
        async with self.lock:
            while True:
                now = time.monotonic()
                # Tokens accrue from the last stamp, oversleep included: a timer that
                # wakes late must not cost the budget anything.
                self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
                self.stamp = now
                if self.tokens >= 1.0:
                    self.tokens -= 1.0
                    return
                await anyio.sleep((1.0 - self.tokens) / self.rate)


def _first_header(headers: Mapping[str, str], names: Iterable[str]) -> str | None:
    for name in names:
        value = headers.get(name)
        if value:
            return clean_text(value, 128)
    return None


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), RETRY_AFTER_CAP)


ErrorFields = Callable[[Any], tuple[str | None, str, str | None]]


def no_error_fields(body: Any) -> tuple[str | None, str, str | None]:
    return None, "", None


def credential_values(
    headers: Mapping[str, str] | None, data: Mapping[str, str] | None
) -> set[str]:
    """Every form a request's credential could be echoed back in: the header value, its
    token, a Basic pair decoded and its password, and form secrets."""
    found: set[str] = set()
    auth = (headers or {}).get("Authorization")
    if auth:
        found.add(auth)
        scheme, _, token = auth.partition(" ")
        found.add(token)
        if scheme.lower() == "basic":
            try:
                pair = base64.b64decode(token, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                pair = ""
            found.update((pair, pair.partition(":")[2]))
    for key, value in (data or {}).items():
        if "secret" in key or "password" in key or "assertion" in key:
            found.add(value)
    return {value for value in found if value}


class BodyTooLarge(Exception):
    pass


class Inflater:
    """Decodes a ``Content-Encoding`` while counting what it yields: a small compressed
    body that inflates without bound stops at ``limit`` bytes, not at the memory's end."""

    def __init__(self, encoding: str, limit: int) -> None:
        self.limit = limit
        self.size = 0
        coding = encoding.strip().lower()
        if coding in ("", "identity"):
            self.zlib: Any = None
        elif coding in ("gzip", "x-gzip"):
            self.zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif coding == "deflate":
            self.zlib = zlib.decompressobj(32 + zlib.MAX_WBITS)  # zlib or gzip header
        else:
            raise ValueError(f"unsupported Content-Encoding {clean_text(coding, 32)!r}")

    def feed(self, chunk: bytes) -> bytes:
        if self.zlib is None:
            return self._count(chunk)
        out = bytearray()
        data = chunk
        while data:
            # Never inflate past the limit in one step, whatever the ratio.
            piece = self.zlib.decompress(data, self.limit - self.size + 1)
            out += self._count(piece)
            data = self.zlib.unconsumed_tail
        return bytes(out)

    def finish(self) -> bytes:
        return self._count(self.zlib.flush()) if self.zlib is not None else b""

    def _count(self, piece: bytes) -> bytes:
        self.size += len(piece)
        if self.size > self.limit:
            raise BodyTooLarge
        return piece


def _parse_json(raw: bytes | bytearray) -> tuple[Any, bool]:
    """The body and whether it parsed; nesting too deep to parse is not JSON we read."""
    if not raw:
        return None, True
    try:
        return json.loads(raw), True
    except (ValueError, RecursionError):
        return None, False


def _classify(status: int, code: str | None, unsupported: frozenset[str]) -> str:
    if status in (401, 403):
        return "auth"
    if status == 404:
        return "not_found"
    if status == 409 and code in unsupported:
        return "unsupported"
    if status == 429:
        return "rate_limited"
    if status >= 500:
        return "http_5xx"
    return "http_4xx"


def _same_origin(a: URL, b: URL) -> bool:
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)


RETRYABLE = frozenset({"timeout", "connect", "http_5xx", "rate_limited"})


class UpstreamClient:
    """One source's HTTP client. Create inside a running event loop; close with ``aclose``."""

    def __init__(
        self,
        source: str,
        telemetry: Telemetry,
        *,
        timeout: float,
        concurrency: int,
        rate_limit: RateLimit | None = None,
        retries: bool = True,
        max_response_size: int = DEFAULT_MAX_RESPONSE,
        error_fields: ErrorFields = no_error_fields,
        correlation_headers: tuple[str, ...] = (),
        unsupported_codes: frozenset[str] = frozenset(),
    ) -> None:
        # The vendor's error envelope (code, message, correlation id) and the response
        # headers that carry its correlation id: the source kind knows them.
        self.error_fields = error_fields
        self.correlation_headers = correlation_headers
        # 409 with one of these codes: the campaign's type is not exposed (skipped, not an
        # error); any other 409 is an http_4xx like the rest.
        self.unsupported_codes = unsupported_codes
        self.source = source
        self.telemetry = telemetry
        self.timeout = timeout
        self.max_response_size = max_response_size
        self.bucket = TokenBucket(rate_limit) if rate_limit else None
        self.max_attempts = MAX_ATTEMPTS if retries else 1
        self.paused_until = 0.0
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=concurrency, ttl_dns_cache=300),
            timeout=aiohttp.ClientTimeout(total=timeout),
            headers={
                "Accept": "application/json",
                "Accept-Encoding": "gzip, deflate",
                "User-Agent": "campaign-exporter",
            },
            raise_for_status=False,
            auto_decompress=False,  # Inflater bounds what a compressed body may become
        )

    async def aclose(self) -> None:
        await self.session.close()

    async def request(
        self,
        method: str,
        url: str,
        endpoint: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        data: Mapping[str, str] | None = None,
    ) -> UpstreamResponse:
        """One call, retried on transient failures; raises ``UpstreamError``."""
        attempt = 0
        secrets = credential_values(headers, data)
        while True:
            attempt += 1
            try:
                return await self._once(
                    method, url, endpoint, headers, params, json_body, data, secrets
                )
            except UpstreamError as exc:
                if exc.reason not in RETRYABLE or attempt >= self.max_attempts:
                    raise
                await anyio.sleep(self._backoff(exc, attempt))

    def _backoff(self, exc: UpstreamError, attempt: int) -> float:
        ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
        jitter = random.uniform(0, ceiling)  # noqa: S311 - jitter, not cryptography
        if exc.retry_after is not None:
            return exc.retry_after + jitter
        return jitter

    async def _wait_turn(self) -> None:
        pause = self.paused_until - time.monotonic()
        if pause > 0:
            await anyio.sleep(pause)
        if self.bucket is not None:
            await self.bucket.take()

    async def _once(
        self,
        method: str,
        url: str,
        endpoint: str,
        headers: Mapping[str, str] | None,
        params: Mapping[str, str] | None,
        json_body: Any,
        data: Mapping[str, str] | None,
        secrets: Iterable[str],
    ) -> UpstreamResponse:
        # In-flight requests are bounded by the connector's limit (``concurrency``).
        await self._wait_turn()
        started = time.monotonic()
        target = URL(url)
        hops = 0
        while True:
            status, resp_headers, raw = await self._exchange(
                method, target, endpoint, headers, params, json_body, data
            )
            location = resp_headers.get("Location") if status in REDIRECTS else None
            if location is None:
                break
            # Only within the same origin, and only a few times: a redirect elsewhere
            # would export another host's data under this source's name.
            nxt = target.join(URL(location))
            if not _same_origin(target, nxt) or hops >= MAX_REDIRECTS:
                raise self._fail(
                    "redirect",
                    endpoint,
                    f"HTTP {status} redirect to another origin, or too many, not followed",
                    status=status,
                )
            hops += 1
            target, params = nxt, None
            if status not in (307, 308):
                method, json_body, data = "GET", None, None
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "upstream request",
                extra={
                    "kv": {
                        "source": self.source,
                        "method": method,
                        "endpoint": endpoint,
                        "path": target.path,
                        "status": status,
                        "duration": f"{time.monotonic() - started:.3f}s",
                    }
                },
            )
        if len(raw) > PARSE_OFF_LOOP:
            body, parsed = await anyio.to_thread.run_sync(_parse_json, raw)
        else:
            body, parsed = _parse_json(raw)
        del raw
        code, message, cid = self.error_fields(body)
        cid = cid or _first_header(resp_headers, self.correlation_headers)
        if 200 <= status < 300:
            if not parsed:
                raise self._fail(
                    "malformed", endpoint, "response is not JSON", status=status, correlation_id=cid
                )
            return UpstreamResponse(status, body, cid)
        reason = _classify(status, code, self.unsupported_codes)
        retry_after = _retry_after(resp_headers) if status == 429 else None
        if reason == "rate_limited":
            self.telemetry.record_rate_limited(self.source)
            pause = retry_after if retry_after is not None else BACKOFF_BASE
            self.paused_until = max(self.paused_until, time.monotonic() + pause)
        detail = f"HTTP {status}" + (f" {code}" if code else "")
        detail += f": {message}" if message else ""
        raise self._fail(
            reason,
            endpoint,
            scrub(detail, secrets),
            status=status,
            correlation_id=scrub(cid, secrets) if cid else None,
            error_code=scrub(code, secrets) if code else None,
            retry_after=retry_after,
        )

    async def _exchange(
        self,
        method: str,
        target: URL,
        endpoint: str,
        headers: Mapping[str, str] | None,
        params: Mapping[str, str] | None,
        json_body: Any,
        data: Mapping[str, str] | None,
    ) -> tuple[int, Mapping[str, str], bytearray]:
        """One HTTP exchange, redirects not followed; the body read within the size cap."""
        try:
            async with self.session.request(
                method,
                target,
                headers=headers,
                params=params,
                json=json_body,
                data=data,
                allow_redirects=False,
            ) as resp:
                status = resp.status
                resp_headers = resp.headers  # case-insensitive; kept after release
                self._count(endpoint, str(status))
                raw = await self._read(resp)
        except TimeoutError:
            self._count(endpoint, "error")
            raise self._fail("timeout", endpoint, f"no answer within {self.timeout:g}s") from None
        except aiohttp.ClientError as exc:
            self._count(endpoint, "error")
            raise self._fail("connect", endpoint, type(exc).__name__) from None
        except BodyTooLarge:
            raise self._fail(
                "too_large",
                endpoint,
                f"HTTP {status} body larger than {self.max_response_size} bytes, not read",
                status=status,
            ) from None
        except (ValueError, zlib.error) as exc:
            raise self._fail(
                "malformed", endpoint, f"body cannot be decoded: {type(exc).__name__}"
            ) from None
        return status, resp_headers, raw

    async def _read(self, resp: aiohttp.ClientResponse) -> bytearray:
        """The decoded body, streamed, never more than ``max_response_size`` bytes."""
        limit = self.max_response_size
        inflater = Inflater(resp.headers.get("Content-Encoding", ""), limit)
        if inflater.zlib is None and (resp.content_length or 0) > limit:
            raise BodyTooLarge
        out = bytearray()
        async for chunk in resp.content.iter_chunked(READ_CHUNK):
            out += inflater.feed(chunk)
        out += inflater.finish()
        return out

    def _count(self, endpoint: str, code: str) -> None:
        self.telemetry.record_request(self.source, endpoint, code)

    def _fail(self, reason: str, endpoint: str, detail: str, **fields: Any) -> UpstreamError:
        self.telemetry.record_error(self.source, ErrorReason(reason))
        return UpstreamError(reason, endpoint, detail, **fields)


class FailureDigest:
    """Failures of one refresh, logged as one line per (reason, endpoint) at its end."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.seen: dict[tuple[str, str], tuple[int, UpstreamError]] = {}

    def add(self, exc: UpstreamError) -> None:
        key = (exc.reason, exc.endpoint)
        count, first = self.seen.get(key, (0, exc))
        self.seen[key] = (count + 1, first)

    def log(self) -> None:
        for (reason, endpoint), (count, first) in sorted(self.seen.items()):
            log.warning(
                "upstream requests failed",
                extra={
                    "kv": {
                        "source": self.source,
                        "endpoint": endpoint,
                        "reason": reason,
                        "count": count,
                        "status": first.status,
                        "error_code": first.error_code,
                        "correlation_id": first.correlation_id,
                        "detail": first.detail,
                    }
                },
            )
