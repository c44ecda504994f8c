"""Hostile answers: what a broken or malicious upstream can send that is still valid HTTP
(and mostly valid JSON). Used by the fault plan; none of it is in the vendors' contract.

The kit knows no vendor's listing: where it must find entries, ids or totals, it asks the
vendor serving the answer, through ``Listing``. Only ``echo_credentials`` answers in both
vendors' error shapes at once, so that a reader of either finds the echoed text.
"""

from __future__ import annotations

import functools
import json
import zlib
from collections.abc import Callable
from typing import Any, Protocol

from aiohttp import web
from yarl import URL

BIG = 10**400  # a valid JSON integer that no float can hold
BAD_TEXT = "\ud83d\x1b[2J\x00"  # half an emoji (a lone surrogate) and control characters
BAD_IDS = [".", "..", "../../admin", "a/b", "x" * 300]
OVERSIZE = 50  # an oversized page repeats its entries this many times
BOGUS_TOTAL = 999_999_999
ENVELOPE_HEAD = b'{"success": true, "data": ['
ENVELOPE_TAIL = b"]}"
DEPTH = 10_000


class Listing(Protocol):
    """Where a vendor's listing keeps its entries, their ids and its claimed totals."""

    def entries(self, body: dict[str, Any]) -> list[Any] | None: ...

    def set_entry_id(self, entry: dict[str, Any], value: Any) -> None: ...

    def claim_total(self, body: dict[str, Any], total: int) -> None: ...


def bad_text(value: Any) -> Any:
    """Names and states with a lone surrogate and control characters in them."""
    if isinstance(value, dict):
        return {
            k: (v + BAD_TEXT if k in ("name", "state") and isinstance(v, str) else bad_text(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [bad_text(v) for v in value]
    return value


def huge_numbers(value: Any) -> Any:
    """Every number (counts, totals, epochs, ids, expires_in) an integer 400 digits long."""
    if isinstance(value, dict):
        return {k: huge_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [huge_numbers(v) for v in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return BIG
    return value


def oversized_page(body: dict[str, Any], listing: Listing) -> dict[str, Any]:
    """Far more entries than the page size asked for."""
    entries = listing.entries(body)
    if entries:
        entries[:] = entries * OVERSIZE
    return body


def bogus_total(body: dict[str, Any], listing: Listing) -> dict[str, Any]:
    """A claimed total far beyond what the listing holds."""
    listing.claim_total(body, BOGUS_TOTAL)
    return body


def bad_ids(body: dict[str, Any], listing: Listing) -> dict[str, Any]:
    """Entries whose ids would change the request path, or are too long to label by."""
    entries = listing.entries(body)
    if not entries or not isinstance(entries[0], dict):
        return body
    bad_entries = []
    for bad in [*BAD_IDS, BIG]:
        entry = json.loads(json.dumps(entries[0]))
        listing.set_entry_id(entry, bad)
        bad_entries.append(entry)
    entries[:0] = bad_entries  # first, so a reader that stops at the page size meets them
    return body


@functools.cache
def gzip_bomb(size: int) -> bytes:
    """A gzip body that inflates to ``size`` bytes of a JSON list of nothing but spaces."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b" " * (1 << 20)
    parts = [comp.compress(ENVELOPE_HEAD)]
    for _ in range(size // len(block)):
        parts.append(comp.compress(block))
    parts.append(comp.compress(ENVELOPE_TAIL))
    parts.append(comp.flush())
    return b"".join(parts)


@functools.cache
def huge_body(size: int) -> bytes:
    """A plain JSON body of ``size`` bytes."""
    return ENVELOPE_HEAD + b" " * size + ENVELOPE_TAIL


def first_page(url: URL) -> URL:
    """The ``same_page`` fault: a listing that ignores the page (or offset) asked for, so
    every page is the first."""
    return url.without_query_params("page", "offset")


def deep_json() -> bytes:
    """Valid JSON nested deeper than any recursive parser goes."""
    return b'{"success": true, "data": ' + b"[" * DEPTH + b"]" * DEPTH + b"}"


def early_answer(kind: str, request: web.Request, size: int) -> web.Response | None:
    """The whole answer for the hostile kinds that replace it; None for the others."""
    if kind == "gzip_bomb":
        return web.Response(
            body=gzip_bomb(size),
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        )
    if kind == "huge_body":
        return web.Response(body=huge_body(size), content_type="application/json")
    if kind == "deep_json":
        return web.Response(body=deep_json(), content_type="application/json")
    if kind == "redirect_away":
        # Same server, other origin: 127.0.0.1 and localhost are different hosts.
        url = request.url
        host = "localhost" if url.host == "127.0.0.1" else "127.0.0.1"
        return web.Response(status=302, headers={"Location": str(url.with_host(host))})
    if kind == "redirect_port":
        # Same host, other origin: another port (where nothing need listen).
        url = request.url
        port = (url.port or 80) + 1 if (url.port or 80) < 65535 else 1
        return web.Response(status=302, headers={"Location": str(url.with_port(port))})
    if kind == "echo_credentials":
        # Both vendors' error shapes at once, so a reader of either finds the message; the
        # header echoed whole, and its token alone.
        echoed = request.headers.get("Authorization", "")
        token = echoed.partition(" ")[2]
        message = f"credentials {echoed} are not valid for this tenant {BAD_TEXT} (key {token})"
        body = {"success": False, "error": {"code": "BAD_REQUEST", "message": message}}
        body.update({"error_code": "invalid_request", "error_message": message})
        return web.json_response(body, status=400)
    return None


BODY_MUTATIONS: dict[str, Callable[[dict[str, Any], Listing], Any]] = {
    "bad_text": lambda body, _: bad_text(body),
    "huge_numbers": lambda body, _: huge_numbers(body),
    "oversized_page": oversized_page,
    "bogus_total": bogus_total,
    "bad_ids": bad_ids,
}
