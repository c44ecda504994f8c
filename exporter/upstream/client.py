"""HTTP calls to one upstream API, on httpx: timeouts, bounded concurrency, pacing (a
configured ceiling, and a pace per endpoint class learned from 429s), retries, bounded
reads and a redirect policy.

Every call is counted and timed; every failure comes out as an ``UpstreamError`` with one
of a small fixed set of reasons, never as a library exception. Whatever the answer holds,
it costs at most ``max_response_size`` bytes of memory (after decompression), and no text
from it carries the request's own credential.
"""

from __future__ import annotations

import base64
import binascii
import errno
import json
import logging
import os
import random
import zlib
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
import anyio
import httpx2

from ..books.reasons import ErrorReason
from ..books.records import LearnedPace
from ..clock import SYSTEM_CLOCK, Clock
from ..config.schema import DEFAULT_CLASS, RateLimit
from ..telemetry import Telemetry
from .egress import Egress, EgressTransport, TlsFileError, tls_problem
from .pacing import Pace, TokenBucket
from .untrusted import clean_text, scrub

log = logging.getLogger("campaign_exporter.upstream")
# httpx2 logs every request at info, and httpcore2 every step at debug: the client's own
# debug line per request says what an operator needs, at the level they chose.
for _library in ("httpx2", "httpcore2"):
    logging.getLogger(_library).setLevel(logging.WARNING)

MAX_ATTEMPTS = 3  # for timeouts, connection errors and 5xx
# 429s have their own allowance: after each the call waits for its class's pace, so a
# call that keeps drawing them means a vendor refusing everything, not our own herd.
MAX_RATE_LIMITED = 6
BACKOFF_BASE = 0.25
BACKOFF_CAP = 8.0
RETRY_AFTER_CAP = 120.0
DEFAULT_MAX_RESPONSE = 16 * 1024**2
READ_CHUNK = 64 * 1024
PARSE_OFF_LOOP = 256 * 1024  # larger bodies are parsed in a worker thread
INFLATE_STEP = 256 * 1024  # the most a compressed body inflates by in one step
MAX_REDIRECTS = 3
REDIRECTS = frozenset({301, 302, 303, 307, 308})
DEFAULT_HEADERS = {
    "Accept": "application/json",
    "Accept-Encoding": "gzip, deflate",  # what Inflater decodes
    "User-Agent": "campaign-exporter",
}


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

    def feed(self, chunk: bytes, out: bytearray) -> None:
        """Decode ``chunk`` onto ``out``, a bounded step at a time: no allocation is larger
        than STEP, however far the chunk inflates, and ``out`` never passes the limit."""
        if self.zlib is None:
            self._count(len(chunk))
            out += chunk
            return
        data = chunk
        while data:
            piece = self.zlib.decompress(data, INFLATE_STEP)
            self._count(len(piece))
            out += piece
            data = self.zlib.unconsumed_tail

    def finish(self, out: bytearray) -> None:
        if self.zlib is not None:
            piece = self.zlib.flush(INFLATE_STEP)
            self._count(len(piece))
            out += piece

    def _count(self, size: int) -> None:
        self.size += size
        if self.size > self.limit:
            raise BodyTooLarge


def _parse_json(raw: bytes | bytearray) -> tuple[Any, bool]:
    """The body and whether it parsed; nesting too deep to parse is not JSON we read."""
    if not raw:
        return None, True
    try:
        return json.loads(raw), True
    except (ValueError, RecursionError):
        return None, False


def _classify(status: int, code: str | None, unsupported: frozenset[str]) -> ErrorReason:
    if status in (401, 403):
        return ErrorReason.AUTH
    if status == 404:
        return ErrorReason.NOT_FOUND
    if status == 409 and code in unsupported:
        return ErrorReason.UNSUPPORTED
    if status == 429:
        return ErrorReason.RATE_LIMITED
    if status >= 500:
        return ErrorReason.HTTP_5XX
    return ErrorReason.HTTP_4XX


async def _parse(raw: bytes | bytearray) -> tuple[Any, bool]:
    if len(raw) > PARSE_OFF_LOOP:
        return await anyio.to_thread.run_sync(_parse_json, raw)
    return _parse_json(raw)


def _origin(url: httpx2.URL) -> tuple[str, str, int | None]:
    default = {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, url.host, url.port or default


def _content_length(headers: Mapping[str, str]) -> int:
    try:
        return int(headers.get("content-length", "0"))
    except ValueError:
        return 0


def _transport_reason(exc: httpx2.HTTPError) -> ErrorReason:
    """``timeout`` or ``connect``. httpx-aiohttp maps every dropped aiohttp connection to
    ``ConnectTimeout``; the aiohttp error it chains tells which it was."""
    cause = exc.__cause__
    if isinstance(cause, aiohttp.ClientError):
        return (
            ErrorReason.TIMEOUT
            if isinstance(cause, aiohttp.ServerTimeoutError)
            else ErrorReason.CONNECT
        )
    return ErrorReason.TIMEOUT if isinstance(exc, httpx2.TimeoutException) else ErrorReason.CONNECT


def _os_words(error: OSError) -> str:
    if error.errno == errno.ECONNREFUSED:
        return "connection refused"
    if error.errno is not None and error.errno > 0:
        return os.strerror(error.errno)
    return clean_text(error.strerror or str(error) or type(error).__name__, 200)


def _host_port(host: str, port: int | None) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _url_host_port(url: httpx2.URL) -> str:
    return _host_port(url.host, url.port or {"http": 80, "https": 443}.get(url.scheme))


def _transport_words(exc: httpx2.HTTPError, url: httpx2.URL) -> str:
    """A failed exchange as an operator reads it: the host and port it was with (the
    proxy's, when that is where it failed) and what happened, in words."""
    cause = exc.__cause__
    if isinstance(cause, aiohttp.ClientConnectorError):
        proxy = "proxy " if isinstance(cause, aiohttp.ClientProxyConnectionError) else ""
        where = f"cannot connect to {proxy}{_host_port(cause.host, cause.port)}"
        error = cause.os_error
        if isinstance(cause, aiohttp.ClientConnectorDNSError):
            words = clean_text(error.strerror or str(error), 200)
            return f"{where}: host name not resolved ({words})"
        return f"{where}: {_os_words(error)}"
    where = f"connection to {_url_host_port(url)} failed"
    if isinstance(cause, OSError):
        return f"{where}: {_os_words(cause)}"
    if isinstance(cause, aiohttp.ClientError):
        words = clean_text(str(cause), 200)
        name = type(cause).__name__
        return f"{where}: {words} ({name})" if words and words != name else f"{where}: {name}"
    return f"{where}: {type(exc).__name__}"


RETRYABLE = frozenset(
    {ErrorReason.TIMEOUT, ErrorReason.CONNECT, ErrorReason.HTTP_5XX, ErrorReason.RATE_LIMITED}
)


@dataclass(frozen=True, slots=True)
class _Answer:
    """A 2xx answer: its status, headers and decoded body."""

    status: int
    headers: httpx2.Headers
    raw: bytearray


@dataclass
class Turn:
    """A slot of an endpoint class's budget, taken before the read that uses it was chosen."""

    endpoint_class: str
    epoch: int
    used: bool = False


# The slot the scheduler took for the read running in this task: its first call of that
# class sends at once.
reserved_turn: ContextVar[Turn | None] = ContextVar("reserved_turn", default=None)


class UpstreamClient:
    """One source's HTTP client. Create inside a running event loop; close with ``aclose``.

    ``endpoint_class`` groups endpoints a vendor rate-limits together: a 429 pauses and
    slows only its class. ``transport`` (an httpx transport, e.g. ``httpx2.MockTransport``)
    and ``clock`` are seams for tests; ``rng`` draws the backoff jitter.
    """

    def __init__(
        self,
        source: str,
        telemetry: Telemetry,
        *,
        timeout: float,
        concurrency: int,
        rate_limit: RateLimit | None = None,
        rate_limits: Mapping[str, RateLimit] | None = None,
        retries: bool = True,
        max_response_size: int = DEFAULT_MAX_RESPONSE,
        transport: httpx2.AsyncBaseTransport | None = None,
        egress: Egress | None = None,
        clock: Clock = SYSTEM_CLOCK,
        rng: random.Random | None = None,
        error_fields: ErrorFields = no_error_fields,
        correlation_headers: tuple[str, ...] = (),
        unsupported_codes: frozenset[str] = frozenset(),
    ) -> None:
        self.source = source
        # The vendor's error envelope (code, message, correlation id), the response headers
        # that carry its correlation id, and the codes of a 409 that means "this campaign's
        # type is not exposed" (any other 409 is an http_4xx): the source kind knows them.
        self.error_fields = error_fields
        self.correlation_headers = correlation_headers
        self.unsupported_codes = unsupported_codes
        self.telemetry = telemetry
        self.timeout = timeout
        self.max_response_size = max_response_size
        self.clock = clock
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self.bucket = (
            TokenBucket(rate_limit.requests_per_second, rate_limit.burst, clock)
            if rate_limit
            else None
        )
        # A configured limit per endpoint class, within the source-wide one.
        self.class_buckets = {
            name: TokenBucket(limit.requests_per_second, limit.burst, clock)
            for name, limit in (rate_limits or {}).items()
        }
        self.max_attempts = MAX_ATTEMPTS if retries else 1
        self.max_rate_limited = MAX_RATE_LIMITED if retries else 1
        self.paces: dict[str, Pace] = {}
        self.turns: dict[str, anyio.Lock] = {}
        # Calls that ended in a transient failure (timeout, connection, 5xx, 429) after
        # all their attempts, or were turned away by their class's pace: what a source
        # could not read in a refresh for reasons that may pass.
        self.gave_up = 0
        self.egress = EgressTransport(concurrency, egress, clock)  # unused with ``transport``
        self.http = httpx2.AsyncClient(
            transport=transport or self.egress,
            timeout=timeout,
            headers=DEFAULT_HEADERS,
            follow_redirects=False,  # _once follows them, within the origin only
            trust_env=False,
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    def adopt(self, old: UpstreamClient) -> None:
        """Keep what ``old`` (the same source, before a reload) learned of the vendor's pace."""
        for endpoint_class, pace in old.paces.items():
            self.paces[endpoint_class] = pace
            self.turns[endpoint_class] = anyio.Lock()
            self.telemetry.upstream.track_pace(self.source, endpoint_class, _rate_of(pace))

    def resume(self, learned: Mapping[str, LearnedPace]) -> None:
        """Go on from the paces an earlier run learned (kept in --storage.path)."""
        for endpoint_class, kept in learned.items():
            pace = self.paces[endpoint_class] = Pace.resumed(kept)
            self.turns[endpoint_class] = anyio.Lock()
            self.telemetry.upstream.track_pace(self.source, endpoint_class, _rate_of(pace))

    def learned(self) -> dict[str, LearnedPace]:
        """What each class's pace has learned, to keep across a restart."""
        out = {}
        for endpoint_class, pace in self.paces.items():
            kept = pace.learned()
            if kept is not None:
                out[endpoint_class] = kept
        return out

    def pace(self, endpoint_class: str = DEFAULT_CLASS) -> Pace:
        """The learned pace of one endpoint class."""
        pace = self.paces.get(endpoint_class)
        if pace is None:
            pace = self.paces[endpoint_class] = Pace()
            self.turns[endpoint_class] = anyio.Lock()  # anyio's Lock is FIFO
            self.telemetry.upstream.track_pace(self.source, endpoint_class, lambda: pace.rate)
        return pace

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
        endpoint_class: str = DEFAULT_CLASS,
    ) -> UpstreamResponse:
        """One call, paced and retried on transient failures; raises ``UpstreamError``."""
        secrets = credential_values(headers, data)
        request = self.http.build_request(
            method, url, headers=headers, params=params, json=json_body, data=data
        )
        answer = await self._call(request, endpoint, endpoint_class, secrets)
        body, parsed = await _parse(answer.raw)
        cid = self._correlation_id(answer.headers, body)
        if not parsed:
            raise self._fail(
                ErrorReason.MALFORMED,
                endpoint,
                "response is not JSON",
                status=answer.status,
                correlation_id=scrub(cid, secrets) if cid else None,
            )
        return UpstreamResponse(answer.status, body, cid)

    def transport_for(
        self, endpoint: str, endpoint_class: str = DEFAULT_CLASS
    ) -> httpx2.AsyncBaseTransport:
        """An httpx transport that sends through this client, for a library that speaks
        httpx (authlib): its calls get the same pacing, retries, size cap, redirect rule,
        counting and error reasons as the source's own."""
        return _ThroughClient(self, endpoint, endpoint_class)

    async def _call(
        self,
        request: httpx2.Request,
        endpoint: str,
        endpoint_class: str,
        secrets: Iterable[str],
    ) -> _Answer:
        pace = self.pace(endpoint_class)
        failures = limited = 0
        while True:
            epoch = await self._wait_turn(pace, endpoint, endpoint_class, failures + limited)
            try:
                answer = await self._once(request, endpoint, secrets)
            except UpstreamError as exc:
                now = self.clock.monotonic()
                if exc.reason == ErrorReason.RATE_LIMITED:
                    pace.limited(now, epoch, exc.retry_after)
                    limited += 1
                    if limited < self.max_rate_limited:
                        continue  # _wait_turn waits for the pause and the new pace
                else:
                    if exc.status is not None:
                        pace.answered(now)
                    failures += 1
                    if exc.reason in RETRYABLE and failures < self.max_attempts:
                        await self.clock.sleep(self._backoff(failures))
                        continue
                if exc.reason in RETRYABLE:
                    self.gave_up += 1
                raise
            pace.answered(self.clock.monotonic())
            return answer

    def _backoff(self, failures: int) -> float:
        """Full jitter: anywhere up to a ceiling that doubles with each failure."""
        return self.rng.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (failures - 1)))

    async def reserve(self, endpoint_class: str) -> Turn:
        """Wait for a slot of the class's budget (its pause and pace, then the configured
        limits) and take it, for a call not chosen yet (``reserved_turn``)."""
        pace = self.pace(endpoint_class)
        pace.waiting += 1
        try:
            await self._slot(pace, endpoint_class)
        finally:
            pace.waiting -= 1
        return Turn(endpoint_class, pace.epoch)

    async def _wait_turn(self, pace: Pace, endpoint: str, endpoint_class: str, tries: int) -> int:
        """Wait for the class's pause and pace, then the configured budget; the pace epoch
        the call is sent in."""
        turn = reserved_turn.get()
        if (
            not tries
            and turn is not None
            and turn.endpoint_class == endpoint_class
            and not turn.used
        ):
            turn.used = True
            return turn.epoch
        if not tries and pace.crowded():
            self.gave_up += 1
            self.telemetry.upstream.turned_away(self.source, endpoint_class)
            raise self._fail(
                ErrorReason.RATE_LIMITED,
                endpoint,
                f"not sent: {pace.waiting} calls already wait for the {endpoint_class!r} "
                f"class's pace of {pace.rate:.3g} requests/s",
            )
        pace.waiting += 1
        try:
            await self._slot(pace, endpoint_class)
        finally:
            pace.waiting -= 1
        return pace.epoch

    async def _slot(self, pace: Pace, endpoint_class: str) -> None:
        # One call at a time, first come first served, sleeps for its class's slot.
        async with self.turns[endpoint_class]:
            while True:
                now = self.clock.monotonic()
                start = pace.start(now)
                if start <= now:
                    break
                await self.clock.sleep(start - now)
                if self.clock.monotonic() >= pace.start(start):
                    break  # no 429 moved the slot while this call slept
            pace.took(start)
            bucket = self.class_buckets.get(endpoint_class)
            if bucket is not None:
                await bucket.take()
        if self.bucket is not None:
            await self.bucket.take()

    async def _once(
        self, request: httpx2.Request, endpoint: str, secrets: Iterable[str]
    ) -> _Answer:
        """One attempt, redirects within the origin followed; raises for any non-2xx."""
        started = self.clock.monotonic()
        target = request
        hops = 0
        while True:
            status, headers, raw = await self._exchange(target, endpoint)
            location = headers.get("location") if status in REDIRECTS else None
            if location is None:
                break
            # Only within the same origin, and only a few times: a redirect elsewhere
            # would export another host's data under this source's name.
            try:
                nxt = target.url.join(location)
            except httpx2.InvalidURL:
                nxt = None
            if nxt is None or _origin(target.url) != _origin(nxt) or hops >= MAX_REDIRECTS:
                raise self._fail(
                    ErrorReason.REDIRECT,
                    endpoint,
                    f"HTTP {status} redirect to another origin, or too many, not followed",
                    status=status,
                )
            hops += 1
            target = _redirected(target, nxt, status)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "upstream request",
                extra={
                    "kv": {
                        "source": self.source,
                        "method": target.method,
                        "endpoint": endpoint,
                        "path": target.url.path,
                        "status": status,
                        "duration": f"{self.clock.monotonic() - started:.3f}s",
                    }
                },
            )
        if 200 <= status < 300:
            return _Answer(status, headers, raw)
        body, _ = await _parse(raw)
        del raw
        code, message, cid = self.error_fields(body)
        cid = cid or _first_header(headers, self.correlation_headers)
        reason = _classify(status, code, self.unsupported_codes)
        retry_after = _retry_after(headers) if status == 429 else None
        if reason == ErrorReason.RATE_LIMITED:
            self.telemetry.record_rate_limited(self.source)
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
        self, request: httpx2.Request, endpoint: str
    ) -> tuple[int, httpx2.Headers, bytearray]:
        """One HTTP exchange, redirects not followed; the body read within the size cap
        and the whole of it within ``timeout``."""
        started = self.clock.monotonic()
        status = 0
        try:
            with anyio.fail_after(self.timeout):
                resp = await self.http.send(request, stream=True)
                try:
                    status = resp.status_code
                    self._count(endpoint, str(status))
                    raw = await self._read(resp)
                finally:
                    await resp.aclose()
        except TimeoutError:
            self._count(endpoint, "error")
            raise self._fail(
                ErrorReason.TIMEOUT,
                endpoint,
                f"no answer from {_url_host_port(request.url)} within {self.timeout:g}s",
            ) from None
        except httpx2.HTTPError as exc:
            self._count(endpoint, "error")
            problem = tls_problem(exc)
            if problem is None and isinstance(exc.__cause__, aiohttp.ServerDisconnectedError):
                # a client certificate refused after a TLS 1.3 handshake looks like this
                problem = await self.egress.handshake_problem(request.url)
            if problem is not None:
                where = _url_host_port(request.url)
                raise self._fail(
                    ErrorReason.TLS, endpoint, f"TLS with {where} failed: {problem}"
                ) from None
            reason = _transport_reason(exc)
            detail = (
                f"no answer from {_url_host_port(request.url)} within {self.timeout:g}s"
                if reason == ErrorReason.TIMEOUT
                else _transport_words(exc, request.url)
            )
            raise self._fail(reason, endpoint, detail) from None
        except TlsFileError as exc:
            self._count(endpoint, "error")
            raise self._fail(ErrorReason.TLS, endpoint, str(exc)) from None
        except BodyTooLarge:
            raise self._fail(
                ErrorReason.TOO_LARGE,
                endpoint,
                f"HTTP {status} body larger than {self.max_response_size} bytes, not read",
                status=status,
            ) from None
        except (ValueError, zlib.error) as exc:
            raise self._fail(
                ErrorReason.MALFORMED, endpoint, f"body cannot be decoded: {type(exc).__name__}"
            ) from None
        finally:
            elapsed = self.clock.monotonic() - started
            self.telemetry.upstream.observe(self.source, endpoint, elapsed)
        return status, resp.headers, raw

    async def _read(self, resp: httpx2.Response) -> bytearray:
        """The decoded body, streamed raw through our own Inflater, never more than
        ``max_response_size`` bytes."""
        limit = self.max_response_size
        if resp.is_stream_consumed:
            # An in-process transport (httpx2.MockTransport) whose answer was in memory
            # and is already decoded: only the size cap is left to apply.
            out = bytearray()
            Inflater("", limit).feed(resp.content, out)
            return out
        inflater = Inflater(resp.headers.get("content-encoding", ""), limit)
        if inflater.zlib is None and _content_length(resp.headers) > limit:
            raise BodyTooLarge
        out = bytearray()
        async for chunk in resp.aiter_raw():
            inflater.feed(chunk, out)
        inflater.finish(out)
        return out

    def _correlation_id(self, headers: Mapping[str, str], body: Any) -> str | None:
        _, _, cid = self.error_fields(body)
        return cid or _first_header(headers, self.correlation_headers)

    def _count(self, endpoint: str, code: str) -> None:
        self.telemetry.record_request(self.source, endpoint, code)

    def _fail(
        self, reason: ErrorReason, endpoint: str, detail: str, **fields: Any
    ) -> UpstreamError:
        self.telemetry.record_error(self.source, reason)
        return UpstreamError(reason, endpoint, detail, **fields)


def _redirected(request: httpx2.Request, url: httpx2.URL, status: int) -> httpx2.Request:
    headers = request.headers.copy()
    del headers["host"]
    if status in (307, 308):
        return httpx2.Request(request.method, url, headers=headers, content=request.content)
    for name in ("content-type", "content-length", "transfer-encoding"):
        headers.pop(name, None)
    return httpx2.Request("GET", url, headers=headers)


# Set by the transport for the body it sends, or describing a body already decoded.
_REQUEST_ONLY = frozenset({"host", "content-length", "transfer-encoding", "accept-encoding"})
_DECODED = frozenset({"content-encoding", "content-length", "transfer-encoding"})


class _ThroughClient(httpx2.AsyncBaseTransport):
    def __init__(self, client: UpstreamClient, endpoint: str, endpoint_class: str) -> None:
        self.client = client
        self.endpoint = endpoint
        self.endpoint_class = endpoint_class

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        content = await request.aread()
        form = None
        if request.headers.get("content-type", "").startswith("application/x-www-form"):
            form = dict(parse_qsl(content.decode("utf-8", "replace")))
        secrets = credential_values(request.headers, form)
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _REQUEST_ONLY]
        outgoing = self.client.http.build_request(
            request.method, request.url, headers=headers, content=content
        )
        answer = await self.client._call(outgoing, self.endpoint, self.endpoint_class, secrets)
        return httpx2.Response(
            answer.status,
            headers=[(k, v) for k, v in answer.headers.items() if k.lower() not in _DECODED],
            content=bytes(answer.raw),
            request=request,
        )


def _rate_of(pace: Pace) -> Callable[[], float | None]:
    return lambda: pace.rate


class FailureDigest:
    """Failed requests of one source, logged as one line per (reason, endpoint): the first
    of a kind at once, then how many more at most once an interval."""

    def __init__(self, source: str, interval: float = 0.0) -> None:
        self.source = source
        self.interval = interval
        self.seen: dict[tuple[str, str], tuple[int, UpstreamError]] = {}
        self.logged: set[tuple[str, str]] = set()  # kinds whose first failure was logged
        self.next_log = -float("inf")

    def add(self, exc: UpstreamError) -> None:
        key = (exc.reason, exc.endpoint)
        count, first = self.seen.get(key, (0, exc))
        self.seen[key] = (count + 1, first)

    def log_due(self, now: float) -> None:
        """Log what is new, and the counts once the interval has passed."""
        new = {k: v for k, v in self.seen.items() if k not in self.logged}
        if now >= self.next_log:
            self.next_log = now + self.interval
            new = self.seen
            self.logged = set(self.seen)
            self.seen = {}
        elif new:
            self.logged |= set(new)
            for key in new:
                del self.seen[key]
        self._log(new)

    def log(self) -> None:
        self._log(self.seen)
        self.seen = {}

    def _log(self, seen: Mapping[tuple[str, str], tuple[int, UpstreamError]]) -> None:
        for (reason, endpoint), (count, first) in sorted(seen.items()):
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
