"""A response body read within the size cap: the ``Content-Encoding`` decoded by our own
``Inflater``, which counts what it yields (a small body that inflates without bound stops
at the cap, not at the memory's end), and the JSON parsed in a worker thread when large.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from typing import Any

import anyio
import httpx2

from .untrusted import clean_text

DEFAULT_MAX_RESPONSE = 16 * 1024**2
PARSE_OFF_LOOP = 256 * 1024  # larger bodies are parsed in a worker thread
INFLATE_STEP = 256 * 1024  # the most a compressed body inflates by in one step


class BodyTooLarge(Exception):
    pass


class Inflater:
    """Decodes a ``Content-Encoding`` while counting what it yields: a small compressed
    body that inflates without bound stops at ``limit`` bytes, not at the memory's end."""

    def __init__(self, encoding: str, limit: int) -> None:
        self.limit = limit
        self.size = 0
        coding = encoding.strip().lower()
        if coding in ("", "identity"):
            self.zlib: Any = None
        elif coding in ("gzip", "x-gzip"):
            self.zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif coding == "deflate":
            self.zlib = zlib.decompressobj(32 + zlib.MAX_WBITS)  # zlib or gzip header
        else:
            raise ValueError(f"unsupported Content-Encoding {clean_text(coding, 32)!r}")

    def feed(self, chunk: bytes, out: bytearray) -> None:
        """Decode ``chunk`` onto ``out``, a bounded step at a time: no allocation is larger
        than STEP, however far the chunk inflates, and ``out`` never passes the limit."""
        if self.zlib is None:
            self._count(len(chunk))
            out += chunk
            return
        data = chunk
        while data:
            piece = self.zlib.decompress(data, INFLATE_STEP)
            self._count(len(piece))
            out += piece
            data = self.zlib.unconsumed_tail

    def finish(self, out: bytearray) -> None:
        if self.zlib is not None:
            piece = self.zlib.flush(INFLATE_STEP)
            self._count(len(piece))
            out += piece

    def _count(self, size: int) -> None:
        self.size += size
        if self.size > self.limit:
            raise BodyTooLarge


def _content_length(headers: Mapping[str, str]) -> int:
    try:
        return int(headers.get("content-length", "0"))
    except ValueError:
        return 0


async def read_body(resp: httpx2.Response, limit: int) -> bytearray:
    """The decoded body, streamed raw through our own Inflater, never more than ``limit``
    bytes; ``BodyTooLarge`` past it, ``ValueError`` or ``zlib.error`` when it cannot be
    decoded."""
    if resp.is_stream_consumed:
        # An in-process transport (httpx2.MockTransport) whose answer was in memory
        # and is already decoded: only the size cap is left to apply.
        out = bytearray()
        Inflater("", limit).feed(resp.content, out)
        return out
    inflater = Inflater(resp.headers.get("content-encoding", ""), limit)
    if inflater.zlib is None and _content_length(resp.headers) > limit:
        raise BodyTooLarge
    out = bytearray()
    async for chunk in resp.aiter_raw():
        inflater.feed(chunk, out)
    inflater.finish(out)
    return out


def _parse_json(raw: bytes | bytearray) -> tuple[Any, bool]:
    """The body and whether it parsed; nesting too deep to parse is not JSON we read."""
    if not raw:
        return None, True
    try:
        return json.loads(raw), True
    except (ValueError, RecursionError):
        return None, False


async def parse_json(raw: bytes | bytearray) -> tuple[Any, bool]:
    """The body and whether it parsed, off the event loop when it is large."""
    if len(raw) > PARSE_OFF_LOOP:
        return await anyio.to_thread.run_sync(_parse_json, raw)
    return _parse_json(raw)
