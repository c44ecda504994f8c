"""HTTP calls to one upstream API, on httpx: timeouts, bounded concurrency, pacing (a
configured ceiling, and a pace per endpoint class learned from 429s) and retries; each
exchange read within the size cap (``decoding``), redirects followed by ``redirects``'
policy.

Every call is counted and timed; every failure comes out as an ``UpstreamError``
(``failures``) with one of a small fixed set of reasons, never as a library exception.
Whatever the answer holds, it costs at most ``max_response_size`` bytes of memory (after
decompression), and no text from it carries the request's own credential.
"""

from __future__ import annotations

import logging
import random
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import httpx2

from ..books.reasons import ErrorReason
from ..books.records import LearnedPace
from ..clock import SYSTEM_CLOCK, Clock
from ..config.egress import TlsFileError
from ..config.schema import DEFAULT_CLASS, RateLimit
from ..telemetry import Telemetry
from .decoding import DEFAULT_MAX_RESPONSE, BodyTooLarge, parse_json, read_body
from .egress import Egress, EgressTransport
from .failures import (
    RETRYABLE,
    ErrorEnvelope,
    ErrorFields,
    UpstreamError,
    credential_values,
    hung_up,
    no_answer,
    no_error_fields,
    tls_problem,
    transport_failure,
    url_host_port,
)
from .pacing import Pace, TokenBucket, Turn, reserved_turn
from .redirects import follow, redirect_location
from .untrusted import scrub

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
DEFAULT_HEADERS = {
    "Accept": "application/json",
    "Accept-Encoding": "gzip, deflate",  # what decoding's Inflater decodes
    "User-Agent": "campaign-exporter",
}


@dataclass(frozen=True, slots=True)
class UpstreamResponse:
    status: int
    body: Any
    correlation_id: str | None


@dataclass(frozen=True, slots=True)
class Answer:
    """A 2xx answer: its status, headers and decoded body."""

    status: int
    headers: httpx2.Headers
    raw: bytearray


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
        # what the source kind knows of its vendor's errors
        self.errors = ErrorEnvelope(error_fields, correlation_headers, unsupported_codes)
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
        answer = await self.send(request, endpoint, endpoint_class, secrets)
        body, parsed = await parse_json(answer.raw)
        cid = self.errors.correlation_id(answer.headers, body)
        if not parsed:
            raise self._fail(
                ErrorReason.MALFORMED,
                endpoint,
                "response is not JSON",
                status=answer.status,
                correlation_id=scrub(cid, secrets) if cid else None,
            )
        return UpstreamResponse(answer.status, body, cid)

    async def send(
        self,
        request: httpx2.Request,
        endpoint: str,
        endpoint_class: str,
        secrets: Iterable[str],
    ) -> Answer:
        """``request`` sent, paced and retried on transient failures, ``secrets`` scrubbed
        from any text of a failure; the 2xx answer, or ``UpstreamError``."""
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

    async def _once(self, request: httpx2.Request, endpoint: str, secrets: Iterable[str]) -> Answer:
        """One attempt, redirects within the origin followed; raises for any non-2xx."""
        started = self.clock.monotonic()
        target = request
        hops = 0
        while True:
            status, headers, raw = await self._exchange(target, endpoint)
            location = redirect_location(status, headers)
            if location is None:
                break
            nxt = follow(target, location, status, hops)
            if nxt is None:
                raise self._fail(
                    ErrorReason.REDIRECT,
                    endpoint,
                    f"HTTP {status} redirect to another origin, or too many, not followed",
                    status=status,
                )
            hops += 1
            target = nxt
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
            return Answer(status, headers, raw)
        body, _ = await parse_json(raw)
        del raw
        error = self.errors.answer_error(endpoint, status, headers, body, secrets)
        reason = ErrorReason(error.reason)
        if reason == ErrorReason.RATE_LIMITED:
            self.telemetry.record_rate_limited(self.source)
        self.telemetry.record_error(self.source, reason)
        raise error

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
                    raw = await read_body(resp, self.max_response_size)
                finally:
                    await resp.aclose()
        except TimeoutError:
            self._count(endpoint, "error")
            raise self._fail(
                ErrorReason.TIMEOUT, endpoint, no_answer(request.url, self.timeout)
            ) from None
        except httpx2.HTTPError as exc:
            self._count(endpoint, "error")
            problem = tls_problem(exc)
            if problem is None and hung_up(exc):
                # a client certificate refused after a TLS 1.3 handshake looks like this
                problem = await self.egress.handshake_problem(request.url)
            if problem is not None:
                where = url_host_port(request.url)
                raise self._fail(
                    ErrorReason.TLS, endpoint, f"TLS with {where} failed: {problem}"
                ) from None
            reason, detail = transport_failure(exc, request.url, self.timeout)
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

    def _count(self, endpoint: str, code: str) -> None:
        self.telemetry.record_request(self.source, endpoint, code)

    def _fail(
        self, reason: ErrorReason, endpoint: str, detail: str, **fields: Any
    ) -> UpstreamError:
        self.telemetry.record_error(self.source, reason)
        return UpstreamError(reason, endpoint, detail, **fields)


def _rate_of(pace: Pace) -> Callable[[], float | None]:
    return lambda: pace.rate
