"""Clients on raw sockets for the serving tests, against the command or the server in this
process: a scrape that never reads, one request on a fresh connection, and waits (with a
deadline) for an answer, a reset or a close."""

from __future__ import annotations

import contextlib
import errno
import select
import socket
import time
from collections.abc import Iterator

import pytest

from .helpers import DEADLINE

Address = tuple[str, int]


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


@contextlib.contextmanager
def closing_all(socks: list[socket.socket]) -> Iterator[list[socket.socket]]:
    try:
        yield socks
    finally:
        for sock in socks:
            sock.close()
