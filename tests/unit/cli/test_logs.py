"""The log's rate limit: one line of a message per interval, and how many were held back."""

from __future__ import annotations

import logging

from exporter.cli.logs import RateLimit


def test_rate_limit_lets_one_line_through_per_interval_and_counts_the_rest() -> None:
    now = [100.0]
    limit = RateLimit(10.0, clock=lambda: now[0])

    def record(msg: str) -> logging.LogRecord:
        return logging.LogRecord("aiohttp.server", logging.ERROR, __file__, 1, msg, (), None)

    first = record("Error handling request from %s")
    assert limit.filter(first) and not hasattr(first, "kv")
    assert not limit.filter(record("Error handling request from %s"))
    assert limit.filter(record("another message"))  # each message has its own allowance
    now[0] = 109.9
    assert not limit.filter(record("Error handling request from %s"))
    now[0] = 110.0
    later = record("Error handling request from %s")
    assert limit.filter(later)
    assert getattr(later, "kv", None) == {"suppressed": 2}
