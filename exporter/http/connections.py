"""The HTTP server's open connections: a deadline for each and a cap on how many.

aiohttp keeps an idle connection for an hour, gives a request head no deadline and accepts
until the process runs out of descriptors. Each accepted connection is wrapped here in a
thin asyncio protocol that sees it open, receive bytes and close; the app's middleware says
when a request is being handled. Everything else is aiohttp's.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import resource
import socket
import struct
import time
from collections.abc import Awaitable, Callable

import anyio
from aiohttp import web

log = logging.getLogger("campaign_exporter.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Clock = Callable[[], float]


class Phase(enum.Enum):
    HEAD = "head"  # just opened, or a next request has started to arrive: its head is due
    IDLE = "idle"  # kept alive between requests, nothing received yet
    BUSY = "busy"  # a handler runs; it bounds its own time (see web.py's write timeout)


# asyncio accepts up to this many connections in one go before handing any to a protocol,
# so they are open before the cap can close one; it is also the listen queue's length.
BACKLOG = 100


def descriptor_cap(max_connections: int) -> int:
    """``max_connections``, but never more than half of what the open-files limit leaves
    after one burst of accepts.

    The other half stays for what the poller needs while the server is flooded: upstream
    sockets, secret files, the config on reload. 0 means no cap.
    """
    if max_connections <= 0:
        return 0
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return max_connections
    return max(1, min(max_connections, (soft - BACKLOG) // 2))


def reset(transport: asyncio.Transport) -> None:
    """Close with a reset, dropping unsent bytes at once.

    ``close()`` waits for a reader that may never come, keeping the descriptor and the
    buffer; even ``abort()`` leaves what the kernel holds to be sent after our close. A
    zero linger time makes the kernel discard it too, and tells the client plainly.
    """
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # OSError: the peer closed first, so there is nothing left to discard.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


class Connection(asyncio.Protocol):
    """One client connection: aiohttp's protocol inside, our deadline outside."""

    def __init__(self, pool: Connections, inner: asyncio.Protocol) -> None:
        self.pool = pool
        self.inner = inner
        self.transport: asyncio.Transport | None = None
        self.phase = Phase.HEAD
        self.deadline = pool.clock() + pool.header_timeout

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.inner.connection_made(transport)
        self.pool.opened(self)

    def data_received(self, data: bytes) -> None:
        if self.phase is Phase.IDLE:
            self.phase = Phase.HEAD
            self.deadline = self.pool.clock() + self.pool.header_timeout
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self.pool.closed(self)
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def busy(self) -> None:
        self.phase = Phase.BUSY

    def done(self) -> None:
        self.phase = Phase.IDLE
        self.deadline = self.pool.clock() + self.pool.idle_timeout

    def abort(self) -> None:
        # Out of the count now: the transport reports the loss only on the next turn of
        # the loop, and a burst of accepts must not pick the same victim again.
        self.pool.closed(self)
        if self.transport is not None:
            reset(self.transport)


class Connections:
    """Every open connection of the server, and the rules they live by.

    A new connection must send a complete request head within ``header_timeout``; a
    kept-alive one may wait ``idle_timeout`` for its next request, whose head is then due
    within ``header_timeout`` of its first byte (Go's ReadHeaderTimeout and IdleTimeout).
    Over ``cap`` open connections, the oldest one not being served is closed to make room,
    so a flood of silent or idle sockets cannot lock out a scraper.
    """

    def __init__(
        self,
        header_timeout: float,
        idle_timeout: float,
        cap: int,
        clock: Clock = time.monotonic,
    ) -> None:
        self.header_timeout = header_timeout
        self.idle_timeout = idle_timeout
        self.cap = cap
        self.clock = clock
        self._open: dict[asyncio.Transport, Connection] = {}

    def __len__(self) -> int:
        return len(self._open)

    def wrap(self, factory: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        """A protocol factory for ``loop.create_server`` around aiohttp's own."""
        return lambda: Connection(self, factory())

    def opened(self, conn: Connection) -> None:
        assert conn.transport is not None
        self._open[conn.transport] = conn
        if self.cap and len(self._open) > self.cap:
            victim = next((c for c in self._open.values() if c.phase is not Phase.BUSY), conn)
            log.warning(
                "connection limit reached, closing the oldest connection not being served",
                extra={"kv": {"limit": self.cap}},
            )
            victim.abort()

    def closed(self, conn: Connection) -> None:
        if conn.transport is not None:
            self._open.pop(conn.transport, None)

    def expire(self) -> int:
        """Abort every connection past its deadline; how many."""
        now = self.clock()
        late = [c for c in self._open.values() if c.phase is not Phase.BUSY and now >= c.deadline]
        for conn in late:
            log.debug(
                "closing a connection past its deadline", extra={"kv": {"phase": conn.phase.value}}
            )
            conn.abort()
        return len(late)

    def busy_count(self) -> int:
        return sum(1 for c in self._open.values() if c.phase is Phase.BUSY)

    def abort_all(self) -> None:
        for conn in list(self._open.values()):
            conn.abort()

    async def enforce(self) -> None:
        """Check deadlines until cancelled, a few times per shortest timeout."""
        tick = min(1.0, max(0.05, min(self.header_timeout, self.idle_timeout) / 4))
        while True:
            await anyio.sleep(tick)
            self.expire()

    @web.middleware
    async def track(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Marks the connection busy while its request is handled."""
        conn = self._open.get(request.transport) if request.transport is not None else None
        if conn is None:
            return await handler(request)
        conn.busy()
        try:
            return await handler(request)
        finally:
            conn.done()
