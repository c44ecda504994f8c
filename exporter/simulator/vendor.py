"""The one interface a simulated vendor API implements; the server knows vendors only by it.

A vendor module owns its world (campaigns, credentials), its routes and its envelopes. The
server owns what all of them share: faults, hostile answers, rate limits, stats, the clock
and the ``/_sim`` control API. A third vendor is a new module and one entry in the list of
vendors the ``Simulator`` is built with.
"""

from __future__ import annotations

import base64
import enum
import random
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from aiohttp import web

from .clock import SimClock
from .settings import SimulatorSettings

Produce = Callable[[], tuple[int, Any]]
"""Computes an answer's status and JSON body; called only once no fault has replaced it."""


class Trouble(enum.Enum):
    """Errors the shared plumbing answers with on a vendor's behalf; the vendor words them."""

    RATE_LIMITED = "rate limit exceeded"
    FAILURE = "simulated failure"
    CONFLICT = "the request conflicts with the campaign's current state"


@dataclass(frozen=True)
class Route:
    """One API route. ``read`` reads the request and returns what produces the answer."""

    method: str
    path: str
    endpoint: str  # the name faults match and stats count requests by
    read: Callable[[web.Request], Awaitable[Produce]]


class VendorApi(ABC):
    """One vendor's API as the simulator serves it."""

    name: ClassVar[str]  # the ``api`` of faults and stats, and the ``/_sim/<name>/`` prefix
    correlation_header: ClassVar[str]  # the response header carrying each answer's request id

    @abstractmethod
    def routes(self) -> Iterable[Route]:
        """The vendor's API routes."""

    @abstractmethod
    def error_body(self, status: int, trouble: Trouble) -> dict[str, Any]:
        """The vendor's error envelope for ``trouble`` answered with ``status``.

        Status 200 is the ``envelope_error`` fault: ``success: false`` under a 200.
        """

    @abstractmethod
    def truth(self, now: float) -> list[dict[str, Any]]:
        """Every campaign as the simulator sees it at ``now``, served at /_sim/<name>/truth."""

    def mark(self, body: Any, correlation: str) -> None:  # noqa: B027 - optional hook
        """Put the answer's correlation id in its body, where the vendor's envelope has one."""

    def endpoint_class(self, endpoint: str) -> str:
        """The class of endpoints a rate limit counts this one in."""
        return "default"

    def control_routes(self) -> Iterable[web.RouteDef]:
        """Control endpoints of this vendor beyond its truth, under /_sim/<name>/."""
        return ()

    # What the hostile kit needs to know about the shape of a listing.

    def entries(self, body: dict[str, Any]) -> list[Any] | None:
        """The campaigns of a listing answer (None when the body is not a listing)."""
        return None

    def set_entry_id(self, entry: dict[str, Any], value: Any) -> None:  # noqa: B027 - optional hook
        """Give one listing entry another campaign id."""

    def claim_total(self, body: dict[str, Any], total: int) -> None:  # noqa: B027 - optional hook
        """Make a listing claim ``total`` campaigns (and pages, where it counts them)."""


VendorFactory = Callable[[SimulatorSettings, random.Random, SimClock], VendorApi]
"""Builds a vendor's world from the settings, the shared seeded random source and clock."""


def basic_credentials(header: str) -> tuple[str, str]:
    """User and password of an HTTP Basic ``Authorization`` header ("" and "" if it is not)."""
    if not header.startswith("Basic "):
        return "", ""
    try:
        user, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return "", ""
    return user, password
