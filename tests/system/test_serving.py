"""Serving under hostile clients: scrapers that never read, silent or idle sockets, floods
of connections and malformed requests, and a SIGTERM while all of that goes on.

The tests run the real command at its defaults (--web.max-requests 40, a 5 s header
timeout, a 10 s write timeout); the ones that need a short idle timeout or a tiny
connection cap run the server in this process, in tests/integration/test_serving.py.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from ..helpers import COMMAND, DEADLINE, ExporterProcess
from ..socket_clients import (
    Address,
    closing_all,
    fetch,
    stalled_scrape,
    wait_answered,
    wait_closed,
    wait_reset,
)

# Big enough that the kernel's socket buffers cannot take a whole body for a client that
# does not read (8.7 MB against a few MB), so its scrape stays in flight.
DEMO = ("--demo", "--demo.campaigns=3000")
# Reading 3,000 campaigns' state takes the demo (its simulator in the same process) about
# 3,000 status reads and 10 s of CPU; on a loaded 2-core machine, three times as long.
FLEET_READ = 90.0
MALFORMED = b"GET /metrics HTTP/1.1\r\nHost: test\r\nContent-Length: many\r\n\r\n"


def wait_status(address: Address, status: int) -> bytes:
    """Ask for /metrics until the answer has ``status``; its body."""
    end = time.monotonic() + DEADLINE
    while True:
        got, body = fetch(address)
        if got == status:
            return body
        if time.monotonic() > end:
            pytest.fail(f"/metrics never answered {status} (last {got})")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def demo() -> Iterator[ExporterProcess]:
    """One demo process at default limits for the tests that leave it as they found it."""
    with ExporterProcess(*DEMO) as exporter:
        # the whole fleet on /metrics: the body these tests need
        exporter.wait_states_read(FLEET_READ)
        yield exporter


def test_the_41st_concurrent_scrape_gets_503_until_a_slot_frees(demo: ExporterProcess) -> None:
    with closing_all([stalled_scrape(demo.address) for _ in range(40)]) as stalled:
        wait_answered(stalled)
        body = wait_status(demo.address, 503)
        assert body == b"Limit of concurrent requests reached (40), try again later.\n"
        assert demo.get("/-/healthy")[0] == 200  # the cap is on /metrics only
    status, body = fetch(demo.address)
    assert status == 200 and b"campaign_exporter_build_info" in body


def test_scrapers_that_do_not_read_do_not_each_pin_a_copy_of_the_body(
    demo: ExporterProcess,
) -> None:
    for _ in range(3):
        assert fetch(demo.address)[0] == 200
    before = demo.rss_mib()
    with closing_all([stalled_scrape(demo.address) for _ in range(40)]) as stalled:
        wait_answered(stalled)
        grown = demo.rss_mib() - before
    # A copy each would be 40 x ~5 MB (the 8.7 MB body less what the kernel holds).
    assert grown < 64, f"RSS grew {grown:.0f} MiB with 40 stalled scrapers"


def test_a_scraper_that_stops_reading_is_reset_after_the_write_timeout(
    demo: ExporterProcess,
) -> None:
    with closing_all([stalled_scrape(demo.address)]) as (sock,):
        wait_answered([sock])
        assert wait_reset(sock, deadline=30) > 5  # 10 s without progress
    assert fetch(demo.address)[0] == 200


def test_a_silent_connection_is_closed_after_the_header_timeout(demo: ExporterProcess) -> None:
    with closing_all([socket.create_connection(demo.address)]) as (sock,):
        assert 3 < wait_closed(sock, deadline=30) < 20  # 5 s


def test_a_request_head_sent_byte_by_byte_is_cut_off_too(demo: ExporterProcess) -> None:
    """Trickling a head (slowloris) does not reset the header deadline."""
    with closing_all([socket.create_connection(demo.address)]) as (sock,):
        sock.sendall(b"GET /metrics HTTP/1.1\r\n")
        start = time.monotonic()
        while trickle(sock):
            assert time.monotonic() - start < 20, "still open after 20 s of a trickled head"
            time.sleep(0.2)


def trickle(sock: socket.socket) -> bool:
    """Send one more byte of a header line; False once the server has closed the socket."""
    try:
        sock.sendall(b"X")
    except (BrokenPipeError, ConnectionResetError):
        return False
    return True


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


def test_sigterm_with_stalled_scrapers_stops_within_seconds() -> None:
    with ExporterProcess(*DEMO) as exporter:
        exporter.wait_states_read(FLEET_READ)
        with closing_all([stalled_scrape(exporter.address) for _ in range(5)]) as stalled:
            wait_answered(stalled)
            started = time.monotonic()
            assert exporter.stop(signal.SIGTERM) == 0
            assert time.monotonic() - started < 5  # a 1 s grace, then everyone is cut off


def test_a_flood_of_idle_connections_does_not_lock_out_a_scraper() -> None:
    """With 300 descriptors, 600 silent sockets: the oldest are closed to make room."""
    with ExporterProcess("--demo", "--demo.campaigns=20", open_files=300) as exporter:
        exporter.wait_ready()
        flood: list[socket.socket] = []
        with closing_all(flood):
            for _ in range(600):
                flood.append(socket.create_connection(exporter.address, timeout=5))
            started = time.monotonic()
            assert fetch(exporter.address)[0] == 200
            assert time.monotonic() - started < 3  # not waiting on the 5 s header timeout
        http_lines = [line for line in exporter.lines if "logger=http" in line]
        assert 1 <= len(http_lines) <= 4, http_lines


def test_a_busy_port_is_one_line_and_exit_1() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [COMMAND, "--demo", "--demo.campaigns=5", f"--web.listen-address=127.0.0.1:{port}"],
            capture_output=True,
            text=True,
            timeout=DEADLINE,
        )
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("campaign-exporter: cannot serve: ") and "address already in use" in last
    assert "Traceback" not in done.stderr
