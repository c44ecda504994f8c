"""OAuth2 token lifetimes: ``expires_in`` clamped, on an injectable clock, against the
simulator's token endpoint."""

from __future__ import annotations

import pytest

from exporter.auth import OAuth2Provider
from exporter.schema import OAuth2
from exporter.secrets import Secret
from exporter.telemetry import Telemetry
from exporter.upstream import UpstreamClient

from .helpers import running_simulator

pytestmark = pytest.mark.anyio


class Clock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def token_fetches(expires_in: float, at: list[float]) -> list[int]:
    """Ask for the header at each of ``at`` seconds; token requests made by then."""
    async with running_simulator(experiture_campaigns=1, token_ttl=expires_in) as (sim, url):
        config = OAuth2(
            token_url=f"{url}/oauth/token",
            client_id="demo-client",
            client_secret=Secret("demo-secret"),
        )
        clock = Clock()
        provider = OAuth2Provider(config, clock=clock)
        client = UpstreamClient("prod", Telemetry(), timeout=5, concurrency=1)
        fetches = []
        try:
            for offset in at:
                clock.now = 1000.0 + offset
                assert (await provider.header(client)).startswith("Bearer sim-")
                fetches.append(sim.stats[("experiture", "token", 200)])
        finally:
            await client.aclose()
    return fetches


@pytest.mark.parametrize(
    ("expires_in", "at", "fetches"),
    [
        # kept for its lifetime less a tenth (at most a minute)
        (3600.0, [0, 3539, 3541], [1, 1, 2]),
        # raised to 1 s: the old code fetched a token for nearly every call
        (0.001, [0, 0.5, 0.85, 0.95], [1, 1, 1, 2]),
        # JSON's NaN and Infinity: the default 300 s; the old code never refreshed early
        (float("nan"), [0, 269, 271], [1, 1, 2]),
        (float("inf"), [0, 269, 271], [1, 1, 2]),
        # ten days: cut to one
        (864000.0, [0, 86339, 86341], [1, 1, 2]),
    ],
    ids=["an hour", "a millisecond", "NaN", "Infinity", "ten days"],
)
async def test_token_lifetime_is_clamped(
    expires_in: float, at: list[float], fetches: list[int]
) -> None:
    assert await token_fetches(expires_in, at) == fetches
