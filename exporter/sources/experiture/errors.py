"""Experiture's error envelope: ``{"success": false, "correlationId", "error": {code,
message, details, remediation}}``, with the id also in the ``x-correlation-id`` header."""

from __future__ import annotations

from typing import Any

from ..fields import obj, text

CORRELATION_HEADERS = ("x-correlation-id",)


def error_fields(body: Any) -> tuple[str | None, str, str | None]:
    err = obj(body, "error")
    return text(err, "code"), text(err, "message") or "", text(body, "correlationId")
