"""What a failed upstream call is, and what it says: ``UpstreamError`` with one of the small
fixed set of reasons, the classification of an HTTP status and of a transport failure,
the operator's words for a failed exchange, and the forms of a request's credential that
no text from the answer may carry.
"""

from __future__ import annotations

import base64
import binascii
import errno
import os
import ssl
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx2

from ..books.reasons import ErrorReason
from ..config.egress import ssl_words
from .untrusted import clean_text, scrub

RETRY_AFTER_CAP = 120.0
RETRYABLE = frozenset(
    {ErrorReason.TIMEOUT, ErrorReason.CONNECT, ErrorReason.HTTP_5XX, ErrorReason.RATE_LIMITED}
)


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


# A source kind's reading of its vendor's error envelope: (code, message, correlation id).
ErrorFields = Callable[[Any], tuple[str | None, str, str | None]]


def no_error_fields(body: Any) -> tuple[str | None, str, str | None]:
    return None, "", None


@dataclass(frozen=True, slots=True)
class ErrorEnvelope:
    """How a source kind reads its vendor's failed answers: the error envelope (code,
    message, correlation id), the response headers that carry its correlation id, and the
    codes of a 409 that means "this campaign's type is not exposed" (any other 409 is an
    http_4xx)."""

    fields: ErrorFields = no_error_fields
    correlation_headers: tuple[str, ...] = ()
    unsupported_codes: frozenset[str] = frozenset()

    def correlation_id(self, headers: Mapping[str, str], body: Any) -> str | None:
        _, _, cid = self.fields(body)
        return cid or first_header(headers, self.correlation_headers)

    def answer_error(
        self,
        endpoint: str,
        status: int,
        headers: Mapping[str, str],
        body: Any,
        secrets: Iterable[str],
    ) -> UpstreamError:
        """The failure a non-2xx answer is, none of ``secrets`` in its text."""
        code, message, cid = self.fields(body)
        cid = cid or first_header(headers, self.correlation_headers)
        detail = f"HTTP {status}" + (f" {code}" if code else "")
        detail += f": {message}" if message else ""
        return UpstreamError(
            classify(status, code, self.unsupported_codes),
            endpoint,
            scrub(detail, secrets),
            status=status,
            correlation_id=scrub(cid, secrets) if cid else None,
            error_code=scrub(code, secrets) if code else None,
            retry_after=retry_after(headers) if status == 429 else None,
        )


def first_header(headers: Mapping[str, str], names: Iterable[str]) -> str | None:
    for name in names:
        value = headers.get(name)
        if value:
            return clean_text(value, 128)
    return None


def retry_after(headers: Mapping[str, str]) -> float | None:
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


def classify(status: int, code: str | None, unsupported: frozenset[str]) -> ErrorReason:
    """The reason of a non-2xx answer; ``unsupported`` holds the codes of a 409 that
    means "this campaign's type is not exposed"."""
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


def transport_reason(exc: httpx2.HTTPError) -> ErrorReason:
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


def no_answer(url: httpx2.URL, timeout: float) -> str:
    return f"no answer from {url_host_port(url)} within {timeout:g}s"


def transport_failure(
    exc: httpx2.HTTPError, url: httpx2.URL, timeout: float
) -> tuple[ErrorReason, str]:
    """The reason and the words of an exchange that failed below HTTP, TLS aside."""
    reason = transport_reason(exc)
    if reason == ErrorReason.TIMEOUT:
        return reason, no_answer(url, timeout)
    return reason, transport_words(exc, url)


def tls_problem(exc: BaseException) -> str | None:
    """What went wrong with TLS, when that is why a call failed (anywhere in the chain of
    exceptions aiohttp and httpx wrap it in); None when it is not TLS."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, aiohttp.ClientConnectorCertificateError):
            seen = seen.certificate_error
            continue
        if isinstance(seen, ssl.SSLError):
            return ssl_words(seen)
        if isinstance(seen, aiohttp.ClientSSLError):
            inner = seen.__cause__ or getattr(seen, "os_error", None)
            if isinstance(inner, ssl.SSLError):
                seen = inner
                continue
            return "handshake failed"
        seen = seen.__cause__ or seen.__context__
    return None


def hung_up(exc: BaseException) -> bool:
    """Whether the server closed or reset the connection before any answer: how a TLS 1.3
    server's refusal of a client certificate reaches the request (a reset when the request
    was already on its way), and what the handshake probe then tells apart."""
    cause = exc.__cause__
    if isinstance(cause, aiohttp.ServerDisconnectedError):
        return True
    return isinstance(cause, OSError) and cause.errno in (errno.ECONNRESET, errno.EPIPE)


def _os_words(error: OSError) -> str:
    if error.errno == errno.ECONNREFUSED:
        return "connection refused"
    if error.errno is not None and error.errno > 0:
        return os.strerror(error.errno)
    return clean_text(error.strerror or str(error) or type(error).__name__, 200)


def _host_port(host: str, port: int | None) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def url_host_port(url: httpx2.URL) -> str:
    return _host_port(url.host, url.port or {"http": 80, "https": 443}.get(url.scheme))


def transport_words(exc: httpx2.HTTPError, url: httpx2.URL) -> str:
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
    where = f"connection to {url_host_port(url)} failed"
    if isinstance(cause, OSError):
        return f"{where}: {_os_words(cause)}"
    if isinstance(cause, aiohttp.ClientError):
        words = clean_text(str(cause), 200)
        name = type(cause).__name__
        return f"{where}: {words} ({name})" if words and words != name else f"{where}: {name}"
    return f"{where}: {type(exc).__name__}"
