"""GreenArrow's error envelope: ``{"success": false, "error_code", "error_message",
"data": null}``; a request id, when a proxy adds one, comes as ``X-Request-Id``."""

from __future__ import annotations

from typing import Any

from ..fields import text

CORRELATION_HEADERS = ("x-request-id",)


def error_fields(body: Any) -> tuple[str | None, str, str | None]:
    return text(body, "error_code"), text(body, "error_message") or "", None
