"""Reading fields out of untrusted JSON: a wrong type, a null, a missing key or a value out
of any sane range gives None, never an exception; text comes back safe to render. A body
that is not of its documented shape is a ``ParseError``, one whose envelope says the
request failed a ``RefusedByApi``: both raised by the vendor's parser."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from ..books.reasons import ErrorReason
from ..upstream.untrusted import clean_text

MAX_LABEL = 200  # longer strings are cut (with a mark): label values stay bounded
MAX_ID = 200  # longer ids are refused, not cut: a cut id names another campaign
MAX_COUNT = 2**53  # beyond this a count is not exact as a sample value: not a real count
# Characters that would change the request path or query an id is put into.
_ID_FORBIDDEN = frozenset("/\\?#%")


class ParseError(Exception):
    """A body that cannot be read as the documented shape."""


class RefusedByApi(Exception):
    """A body whose envelope says the request failed (e.g. ``success: false``): counted
    by ``reason``, not as malformed; ``detail`` is what the failure says of it."""

    def __init__(self, message: str, reason: ErrorReason, detail: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.detail = detail


class InvalidId(ValueError):
    """An id that is present but unsafe to put into a request path or a label."""


def obj(d: Any, key: str) -> dict[str, Any] | None:
    value = d.get(key) if isinstance(d, dict) else None
    return value if isinstance(value, dict) else None


def text(d: Any, key: str, *, int_ok: bool = False) -> str | None:
    """A non-empty string, safe to render, cut to MAX_LABEL; with ``int_ok``, an integer
    (of at most 20 digits) as its decimal text."""
    value = d.get(key) if isinstance(d, dict) else None
    if int_ok and isinstance(value, int) and not isinstance(value, bool):
        return str(value) if 0 <= value < 10**20 else None
    if isinstance(value, str) and value:
        return clean_text(value, MAX_LABEL)
    return None


def identifier(d: Any, key: str, *, int_ok: bool = False) -> str | None:
    """An id to poll and label by: None when missing; ``InvalidId`` when unsafe.

    With ``int_ok``, an integer id is taken as its decimal text (under the same bounds).
    """
    value = d.get(key) if isinstance(d, dict) else None
    if int_ok and isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value < 10**20:
            raise InvalidId("integer id out of range")
        return str(value)
    if not isinstance(value, str) or not value:
        return None
    if len(value) > MAX_ID:
        raise InvalidId(f"id longer than {MAX_ID} characters")
    if value in (".", "..") or not value.isprintable() or not _ID_FORBIDDEN.isdisjoint(value):
        raise InvalidId("id with a path or query character")
    if clean_text(value, MAX_ID) != value:
        raise InvalidId("id with an invalid code point")
    return value


def count(d: Any, key: str) -> int | None:
    """A non-negative finite number below 2**53, as an int."""
    value = d.get(key) if isinstance(d, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if not 0 <= value < MAX_COUNT:
        return None
    return int(value)


def timestamp(d: Any, key: str) -> float | None:
    """An ISO 8601 time with a zone, as Unix seconds; a naive time is ambiguous: None."""
    value = text(d, key)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
        return parsed.timestamp() if parsed.tzinfo is not None else None
    except (ValueError, OverflowError, OSError):
        return None
