"""The redirect policy: a redirect is followed only within the request's own origin, and
only a few times; one to another origin would export another host's data under this
source's name. The client follows them itself (httpx's ``follow_redirects`` is off).
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx2

MAX_REDIRECTS = 3
REDIRECTS = frozenset({301, 302, 303, 307, 308})


def redirect_location(status: int, headers: Mapping[str, str]) -> str | None:
    """Where an answer redirects to; None when it is no redirect."""
    return headers.get("location") if status in REDIRECTS else None


def follow(request: httpx2.Request, location: str, status: int, hops: int) -> httpx2.Request | None:
    """The request a redirect to ``location`` leads to after ``hops`` redirects already
    followed; None when it may not be followed (another origin, too many, a bad URL)."""
    try:
        nxt = request.url.join(location)
    except httpx2.InvalidURL:
        return None
    if _origin(request.url) != _origin(nxt) or hops >= MAX_REDIRECTS:
        return None
    return _redirected(request, nxt, status)


def _origin(url: httpx2.URL) -> tuple[str, str, int | None]:
    default = {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, url.host, url.port or default


def _redirected(request: httpx2.Request, url: httpx2.URL, status: int) -> httpx2.Request:
    headers = request.headers.copy()
    del headers["host"]
    if status in (307, 308):
        return httpx2.Request(request.method, url, headers=headers, content=request.content)
    for name in ("content-type", "content-length", "transfer-encoding"):
        headers.pop(name, None)
    return httpx2.Request("GET", url, headers=headers)
