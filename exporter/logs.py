"""Structured log lines in logfmt or JSON, as Prometheus' own components write them."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
}
_LEVEL_NAMES = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "warn",
    logging.ERROR: "error",
    logging.CRITICAL: "error",
}


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ts": datetime.fromtimestamp(record.created, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        "level": _LEVEL_NAMES.get(record.levelno, "info"),
        "logger": record.name.removeprefix("campaign_exporter.") or record.name,
        "msg": record.getMessage(),
    }
    kv = getattr(record, "kv", None)
    if isinstance(kv, dict):
        out.update({k: v for k, v in kv.items() if v is not None})
    if record.exc_info and record.exc_info[1] is not None:
        exc = record.exc_info[1]
        out["err"] = f"{type(exc).__name__}: {exc}"
    return out


def _logfmt_value(value: Any) -> str:
    text = str(value)
    if text == "" or any(c in text for c in ' "=\\\n\t'):
        return json.dumps(text, ensure_ascii=False)
    return text


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{k}={_logfmt_value(v)}" for k, v in _fields(record).items())


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(_fields(record), ensure_ascii=False, default=str)


class DisconnectsAtDebug(logging.Filter):
    """A client that hangs up before its response is written (Prometheus does on every
    scrape timeout) is routine, not an error: aiohttp logs it at error, this at debug."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, ConnectionError):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        record.msg, record.args = "client disconnected before its response was written", ()
        record.exc_info = None
        record.__dict__["kv"] = {"err": f"{type(exc).__name__}: {exc}"}
        return logging.getLogger().isEnabledFor(logging.DEBUG)


def setup_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else LogfmtFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(LEVELS[level])
    # aiohttp's access log would write a line per scrape.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    server = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, DisconnectsAtDebug) for f in server.filters):
        server.addFilter(DisconnectsAtDebug())
