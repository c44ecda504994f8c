"""Reading fields out of untrusted JSON: a wrong type, a null or a missing key gives None,
never an exception."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

MAX_LABEL = 200  # longer strings are cut: label values from upstream stay bounded


def obj(d: Any, key: str) -> dict[str, Any] | None:
    value = d.get(key) if isinstance(d, dict) else None
    return value if isinstance(value, dict) else None


def text(d: Any, key: str, *, int_ok: bool = False) -> str | None:
    """A non-empty string (cut to MAX_LABEL); with ``int_ok``, an integer id as text."""
    value = d.get(key) if isinstance(d, dict) else None
    if int_ok and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value:
        return value[:MAX_LABEL]
    return None


def count(d: Any, key: str) -> int | None:
    """A non-negative finite number, as an int."""
    value = d.get(key) if isinstance(d, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if value != value or value < 0 or math.isinf(value):
        return None
    return int(value)


def timestamp(d: Any, key: str) -> float | None:
    """An ISO 8601 time with a zone, as Unix seconds; a naive time is ambiguous: None."""
    value = text(d, key)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.timestamp() if parsed.tzinfo is not None else None
