"""Structured log lines in logfmt or JSON, as Prometheus' own components write them."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
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


# Loggers a client can make write: aiohttp's line per malformed request (written before any
# authentication), and the server's own lines on accept errors and the connection limit.
CLIENT_DRIVEN_LOGGERS = ("aiohttp.server", "campaign_exporter.http")
CLIENT_DRIVEN_INTERVAL = 10.0


class RateLimit(logging.Filter):
    """Lets each message (by its format string) through once per ``interval`` seconds.

    The next line let through says how many were held back (``suppressed``), so a flood
    shows as one line every ``interval`` with a count instead of one line per request.
    """

    MAX_KEYS = 1000  # a logger formatting its own messages would make every key new

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.interval = interval
        self.clock = clock
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = str(record.msg)
        now = self.clock()
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            self._held[key] = self._held.get(key, 0) + 1
            return False
        if len(self._last) >= self.MAX_KEYS:
            self._last.clear()
        self._last[key] = now
        held = self._held.pop(key, 0)
        if held:
            record.kv = {**(getattr(record, "kv", None) or {}), "suppressed": held}
        return True


def setup_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else LogfmtFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(LEVELS[level])
    # aiohttp's access log would write a line per scrape.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    for name in CLIENT_DRIVEN_LOGGERS:
        logger = logging.getLogger(name)
        for old in [f for f in logger.filters if isinstance(f, RateLimit)]:
            logger.removeFilter(old)
        logger.addFilter(RateLimit(CLIENT_DRIVEN_INTERVAL))
