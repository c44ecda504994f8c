"""The path of every read of a vendor's API: GET with the source's credentials, then parse
the body, a body that cannot be read counted as malformed (or, when its envelope says the
request failed, by the reason it gives). What a failure means for the source, and how it
is worded, stays with the vendor."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from ..books.reasons import ErrorReason
from ..config.schema import DEFAULT_CLASS
from ..upstream.auth import AuthProvider
from ..upstream.client import UpstreamClient, UpstreamResponse
from ..upstream.failures import UpstreamError
from .fields import ParseError, RefusedByApi

T = TypeVar("T")


async def authorized_get(
    client: UpstreamClient,
    auth: AuthProvider,
    url: str,
    endpoint: str,
    *,
    params: Mapping[str, str] | None = None,
    endpoint_class: str = DEFAULT_CLASS,
) -> UpstreamResponse:
    """GET with the credentials' ``Authorization`` header; a 401 gets one more try when
    a fresh token may help (``auth.invalidate``). Raises ``UpstreamError`` (and the
    provider's ``AuthError``)."""
    for attempt in (1, 2):
        header = await auth.header(client)
        try:
            return await client.request(
                "GET",
                url,
                endpoint,
                headers={"Authorization": header},
                params=params,
                endpoint_class=endpoint_class,
            )
        except UpstreamError as exc:
            if exc.status == 401 and attempt == 1 and auth.invalidate(header):
                continue
            raise
    raise AssertionError("unreachable")


def parse_body(
    resp: UpstreamResponse,
    endpoint: str,
    parse: Callable[[Any], T],
    errors: Counter[ErrorReason],
) -> T:
    """``parse`` of the body; one it cannot read is counted in ``errors`` and raised as an
    ``UpstreamError`` (malformed, with the ``ParseError``'s message, else only the type of
    what a hostile body raised)."""
    try:
        return parse(resp.body)
    except RefusedByApi as exc:
        errors[exc.reason] += 1
        raise _failed(resp, exc.reason, endpoint, exc.detail) from None
    except Exception as exc:  # noqa: BLE001 - whatever a hostile body raises
        errors[ErrorReason.MALFORMED] += 1
        detail = str(exc) if isinstance(exc, ParseError) else type(exc).__name__
        raise _failed(resp, ErrorReason.MALFORMED, endpoint, detail) from None


def _failed(resp: UpstreamResponse, reason: str, endpoint: str, detail: str) -> UpstreamError:
    return UpstreamError(
        reason, endpoint, detail, status=resp.status, correlation_id=resp.correlation_id
    )
