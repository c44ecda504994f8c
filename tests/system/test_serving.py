"""Serving under hostile clients: scrapers that never read, silent or idle sockets, floods
of connections and malformed requests, and a SIGTERM while all of that goes on.

Most tests run the real command at its defaults (--web.max-requests 40, a 5 s header
timeout, a 10 s write timeout); the ones that need a short idle timeout or a tiny
connection cap run the server in this process with those limits, over real sockets.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import select
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator

import anyio
import pytest

from exporter.cli.logs import RateLimit
from exporter.exposition.render import MetricFamily, pre_render
from exporter.exposition.store import ExpositionStore
from exporter.http.server import ServingLimits, make_app, serve
from exporter.telemetry import Telemetry

from ..helpers import COMMAND, DEADLINE, ExporterProcess

Address = tuple[str, int]
# Big enough that the kernel's socket buffers cannot take a whole body for a client that
# does not read (8.7 MB against a few MB), so its scrape stays in flight.
DEMO = ("--demo", "--demo.campaigns=3000")
# Reading 3,000 campaigns' state takes the demo (its simulator in the same process) about
# 3,000 status reads and 10 s of CPU; on a loaded 2-core machine, three times as long.
FLEET_READ = 90.0
MALFORMED = b"GET /metrics HTTP/1.1\r\nHost: test\r\nContent-Length: many\r\n\r\n"


def stalled_scrape(address: Address, path: str = "/metrics") -> socket.socket:
    """A client that asks for ``path`` and never reads; its receive window stays tiny."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(address)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
    return sock


def wait_answered(socks: list[socket.socket]) -> None:
    """Until the server has started its response on every one of ``socks``."""
    waiting = set(socks)
    end = time.monotonic() + DEADLINE
    while waiting:
        if time.monotonic() > end:
            pytest.fail(f"{len(waiting)} of {len(socks)} requests never got a response")
        readable, _, _ = select.select(list(waiting), [], [], 0.5)
        waiting -= set(readable)


def wait_reset(sock: socket.socket, deadline: float = DEADLINE) -> float:
    """Seconds until the server resets ``sock``, which is never read from."""
    start = time.monotonic()
    while sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != errno.ECONNRESET:
        if time.monotonic() - start > deadline:
            pytest.fail(f"the server kept the connection for more than {deadline:g}s")
        time.sleep(0.05)
    return time.monotonic() - start


def wait_closed(sock: socket.socket, deadline: float = DEADLINE) -> float:
    """Seconds until the server closes ``sock``, reading whatever it sends meanwhile."""
    start = time.monotonic()
    sock.settimeout(deadline)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        pytest.fail(f"the server kept the connection for more than {deadline:g}s")
    except ConnectionResetError:
        pass
    return time.monotonic() - start


def fetch(address: Address, path: str = "/metrics", method: str = "GET") -> tuple[int, bytes]:
    """One request on a fresh connection: status and the raw bytes after the head."""
    with socket.create_connection(address, timeout=DEADLINE) as sock:
        sock.sendall(
            f"{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n".encode()
        )
        data = b"".join(iter(lambda: sock.recv(1 << 20), b""))
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


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


@contextlib.contextmanager
def closing_all(socks: list[socket.socket]) -> Iterator[list[socket.socket]]:
    try:
        yield socks
    finally:
        for sock in socks:
            sock.close()


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


def big_family(size: int) -> MetricFamily:
    fam = MetricFamily("synthetic_value", "gauge", "Filler.", ("series",))
    for i in range(size // 40):
        fam.add((f"{i:020d}",), float(i))
    return fam


@contextlib.asynccontextmanager
async def serving(limits: ServingLimits, body_size: int = 0) -> AsyncIterator[Address]:
    """The HTTP server alone, in this event loop, with a cached body of about ``body_size``."""
    telemetry = Telemetry()
    store = ExpositionStore(telemetry)
    if body_size:
        store.publish("synthetic", pre_render([big_family(body_size)]))
    addresses: list[str] = []
    listening = anyio.Event()

    def on_listening(addrs: list[str]) -> None:
        addresses.extend(addrs)
        listening.set()

    app = make_app(store, telemetry, limits=limits)
    async with anyio.create_task_group() as tg:
        tg.start_soon(serve, app, ("127.0.0.1:0",), None, on_listening)
        with anyio.fail_after(10):
            await listening.wait()
        host, port = addresses[0].rsplit(":", 1)
        yield host, int(port)
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() -> None:
    limits = ServingLimits(header_timeout=0.5, idle_timeout=1.5)

    def keep_alive_then_idle(address: Address) -> float:
        with closing_all([socket.create_connection(address, timeout=DEADLINE)]) as (sock,):
            for _ in range(3):  # one connection, several requests, each within the timeouts
                sock.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: test\r\n\r\n")
                assert sock.recv(4096).endswith(b"Healthy\n")
                time.sleep(0.8)  # longer than the header timeout: idle is not a head
            return 0.8 + wait_closed(sock)

    async with serving(limits) as address:
        idle = await anyio.to_thread.run_sync(keep_alive_then_idle, address)
    assert 1.0 < idle < 10


@pytest.mark.anyio
async def test_past_max_connections_the_oldest_idle_one_is_closed() -> None:
    limits = ServingLimits(max_connections=4)

    def crowd(address: Address) -> None:
        with closing_all([socket.create_connection(address) for _ in range(4)]) as silent:
            assert fetch(address, "/-/healthy") == (200, b"Healthy\n")
            wait_reset(silent[0])
            assert fetch(address, "/-/healthy") == (200, b"Healthy\n")
            wait_reset(silent[1])

    async with serving(limits) as address:
        await anyio.to_thread.run_sync(crowd, address)


@pytest.mark.anyio
async def test_stalled_scrapes_free_their_slots_after_the_write_timeout() -> None:
    limits = ServingLimits(max_requests=1, write_timeout=1.0)

    def stall_then_scrape(address: Address) -> None:
        with closing_all([stalled_scrape(address)]) as (sock,):
            wait_answered([sock])
            assert fetch(address)[0] == 503
            wait_reset(sock)
            status, body = fetch(address)
            assert status == 200 and body.startswith(b"# HELP synthetic_value Filler.\n")

    async with serving(limits, body_size=8 << 20) as address:
        await anyio.to_thread.run_sync(stall_then_scrape, address)


@pytest.mark.anyio
async def test_head_of_metrics_has_the_length_and_no_body() -> None:
    def head_then_get(address: Address) -> tuple[bytes, bytes]:
        with socket.create_connection(address, timeout=DEADLINE) as sock:
            sock.sendall(b"HEAD /metrics HTTP/1.1\r\nHost: test\r\n\r\n")
            head = sock.recv(4096)
            sock.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
            rest = b"".join(iter(lambda: sock.recv(4096), b""))
        return head, rest

    async with serving(ServingLimits(), body_size=100_000) as address:
        head, rest = await anyio.to_thread.run_sync(head_then_get, address)
    length = int(head.split(b"Content-Length: ", 1)[1].split(b"\r\n", 1)[0])
    assert length > 100_000  # the cached body and the exporter's own families
    assert head.endswith(b"\r\n\r\n")  # nothing after the head...
    assert rest.startswith(b"HTTP/1.1 200 OK\r\n")  # ...so the next answer comes out whole
    assert rest.endswith(b"Healthy\n")


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
