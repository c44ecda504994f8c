"""The HTTP server alone in this process, with the limits a test needs (a short idle timeout,
a tiny connection cap), over real sockets: idle and crowded connections are closed, stalled
scrapes free their slots, HEAD of /metrics has the length and no body."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import AsyncIterator

import anyio
import pytest

from exporter.exposition.render import MetricFamily, pre_render
from exporter.exposition.store import ExpositionStore
from exporter.http.server import ServingLimits, make_app, serve
from exporter.telemetry import Telemetry

from ..helpers import DEADLINE
from ..socket_clients import (
    Address,
    closing_all,
    fetch,
    stalled_scrape,
    wait_answered,
    wait_closed,
    wait_reset,
)


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
