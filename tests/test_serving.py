"""Serving under hostile clients: malformed requests."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator

import pytest

from exporter.logs import RateLimit

from .helpers import DEADLINE, ExporterProcess

DEMO = ("--demo", "--demo.campaigns=3000")
MALFORMED = b"GET /metrics HTTP/1.1\r\nHost: test\r\nContent-Length: many\r\n\r\n"


@pytest.fixture(scope="module")
def demo() -> Iterator[ExporterProcess]:
    """One demo process at default limits for the tests that leave it as they found it."""
    with ExporterProcess(*DEMO) as exporter:
        exporter.wait_ready()
        yield exporter


def test_malformed_requests_make_one_log_line_per_interval(demo: ExporterProcess) -> None:
    def logged() -> int:
        return sum("Error handling request" in line for line in list(demo.lines))

    before = logged()
    for _ in range(50):
        with socket.create_connection(demo.address, timeout=DEADLINE) as sock:
            sock.sendall(MALFORMED)
            assert sock.recv(64).split(b" ", 2)[1] == b"400"
    end = time.monotonic() + DEADLINE
    while logged() == before:
        assert time.monotonic() < end, "no log line for 50 malformed requests"
        time.sleep(0.05)
    assert logged() - before <= 2  # one per 10 s; 2 if the requests straddled a boundary


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
