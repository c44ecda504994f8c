"""The simulator serving in this process: a vendor API is a module behind one interface (a
third, test-only vendor gets the shared plumbing), and a failure need not edit the campaign."""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

import pytest
from aiohttp import ClientSession, web
from multidict import CIMultiDictProxy

from exporter.simulator import (
    VENDORS,
    Produce,
    Route,
    Simulator,
    SimulatorSettings,
    Trouble,
    VendorApi,
)
from exporter.simulator.clock import SimClock
from exporter.simulator.faults import Fault


class ToyApi(VendorApi):
    """A third vendor that exists only here: a few widgets behind one route."""

    name = "toy"
    correlation_header = "X-Toy-Trace"

    def __init__(self, settings: SimulatorSettings, rng: random.Random, clock: SimClock) -> None:
        self.widgets = [{"id": n, "name": f"widget {n}"} for n in range(3)]

    def routes(self) -> Iterable[Route]:
        return (Route("GET", "/toy/widgets", "widgets", self.list_widgets),)

    async def list_widgets(self, request: web.Request) -> Produce:
        return lambda: (200, {"ok": True, "data": self.widgets})

    def error_body(self, status: int, trouble: Trouble) -> dict[str, Any]:
        return {"ok": False, "why": trouble.name}

    def truth(self, now: float) -> list[dict[str, Any]]:
        return self.widgets

    def entries(self, body: dict[str, Any]) -> list[Any] | None:
        data = body.get("data")
        return data if isinstance(data, list) else None


async def fetch(session: ClientSession, url: str) -> tuple[int, Any, CIMultiDictProxy[str]]:
    async with session.get(url) as resp:
        return resp.status, await resp.json(), resp.headers


@pytest.mark.anyio
async def test_a_third_vendor_is_served_through_the_shared_plumbing() -> None:
    """A vendor module registered at construction gets routes, truth, faults, the hostile kit
    (through its listing hooks) and stats."""
    sim = Simulator(
        SimulatorSettings(experiture_campaigns=2, greenarrow_campaigns=2), (*VENDORS, ToyApi)
    )
    runner, url = await sim.start()
    widgets = [
        {"id": 0, "name": "widget 0"},
        {"id": 1, "name": "widget 1"},
        {"id": 2, "name": "widget 2"},
    ]
    try:
        async with ClientSession() as session:
            status, body, headers = await fetch(session, f"{url}/toy/widgets")
            assert (status, body) == (200, {"ok": True, "data": widgets})
            assert len(headers["X-Toy-Trace"]) == 32
            assert "x-correlation-id" not in headers

            status, body, _ = await fetch(session, f"{url}/_sim/toy/truth")
            assert (status, body["campaigns"]) == (200, widgets)

            sim.faults.add(Fault(kind="http_5xx", api="toy", count=1))
            sim.faults.add(Fault(kind="rate_limit", api="toy", count=1, retry_after=7))
            status, body, _ = await fetch(session, f"{url}/toy/widgets")
            assert (status, body) == (503, {"ok": False, "why": "FAILURE"})
            status, body, headers = await fetch(session, f"{url}/toy/widgets")
            assert (status, body, headers["Retry-After"]) == (
                429,
                {"ok": False, "why": "RATE_LIMITED"},
                "7",
            )

            sim.faults.add(Fault(kind="oversized_page", api="toy", count=1))
            status, body, _ = await fetch(session, f"{url}/toy/widgets")
            assert (status, len(body["data"]), body["data"][-1]) == (200, 150, widgets[2])

            status, _, _ = await fetch(session, f"{url}/ga/api/v2/system_campaigns")
            assert status == 401  # the default vendors are still there beside it
    finally:
        await runner.cleanup()
    assert sim.stats[("toy", "widgets", 200)] == 2
    assert sim.stats[("toy", "widgets", 503)] == 1
    assert sim.stats[("toy", "widgets", 429)] == 1


def test_two_vendors_may_not_share_a_name() -> None:
    with pytest.raises(ValueError, match="two vendor APIs named 'toy'"):
        Simulator(SimulatorSettings(), (ToyApi, ToyApi))


@pytest.mark.anyio
async def test_a_failure_need_not_edit_the_campaign() -> None:
    """``fail?edit=0`` changes the execution alone: the campaign keeps its ``updatedAt``,
    and so its place in the listing."""
    sim = Simulator(
        SimulatorSettings(
            experiture_campaigns=200, greenarrow_campaigns=2, speed=0.0, preset="long-used"
        )
    )
    runner, url = await sim.start()
    try:
        now = sim.clock.now()
        [first, second] = [c for c in sim.experiture.live() if c.state(now) == "running"][:2]
        edited = first.updated_at, second.updated_at
        async with ClientSession() as session:
            for cid, query in ((first.campaign_id, "?edit=0"), (second.campaign_id, "")):
                async with session.post(f"{url}/_sim/experiture/campaigns/{cid}/fail{query}"):
                    pass
    finally:
        await runner.cleanup()
    assert (first.state(now), second.state(now)) == ("failed", "failed")
    assert first.updated_at == edited[0]
    assert second.updated_at == now != edited[1]
