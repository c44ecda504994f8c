"""The simulator itself: it stands apart from the exporter it checks, and a vendor API is a
module behind one interface."""

from __future__ import annotations

import ast
import random
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, web
from multidict import CIMultiDictProxy

import exporter.simulator
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
from exporter.simulator.experiture import ExperitureWorld, SimCampaign
from exporter.simulator.faults import Fault

SIMULATOR = Path(exporter.simulator.__file__).parent


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, relative imports resolved against its package."""
    package = ".".join(["exporter", *path.relative_to(SIMULATOR.parent).parent.parts])
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def test_simulator_imports_nothing_from_the_exporter() -> None:
    """A second reading of the vendors' docs may not borrow the first one's."""
    modules = sorted(SIMULATOR.rglob("*.py"))
    assert len(modules) >= 7
    borrowed = {
        f"{path.name}: {name}"
        for path in modules
        for name in imported_modules(path)
        if name.startswith("exporter.") and not name.startswith("exporter.simulator")
    }
    assert borrowed == set()


def test_simulator_serves_with_the_exporter_packages_blocked() -> None:
    """Imported in a fresh interpreter where the sources cannot load, it still starts and serves."""
    script = """
import asyncio, sys, urllib.request
for name in ("exporter.sources", "exporter.upstream.client", "exporter.run.poller",
             "exporter.config.loader"):
    sys.modules[name] = None
from exporter.simulator import Simulator, SimulatorSettings

async def main():
    sim = Simulator(SimulatorSettings(experiture_campaigns=3, greenarrow_campaigns=3))
    runner, url = await sim.start()
    try:
        def get():
            req = urllib.request.Request(
                url + "/public/v1/campaigns", headers={"Authorization": "Bearer demo-token"}
            )
            return urllib.request.urlopen(req, timeout=10).status
        print(await asyncio.to_thread(get))
    finally:
        await runner.cleanup()

asyncio.run(main())
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "200"


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


T0 = 1_700_000_000.0  # any fixed instant: a fleet is drawn relative to it
DAY = 86400.0


def long_used(count: int, seed: int = 42) -> list[SimCampaign]:
    rng = random.Random(seed)  # noqa: S311 - a simulation, not security
    return list(ExperitureWorld.generate(count, rng, T0, preset="long-used").campaigns.values())


@pytest.mark.parametrize(
    ("count", "shape"),
    [
        (2000, {"completed": 1640, "scheduled": 160, "not_scheduled": 120, "running": 80}),
        (10_000, {"completed": 8200, "scheduled": 800, "not_scheduled": 600, "running": 400}),
    ],
)
def test_long_used_fleet_has_its_shape(count: int, shape: dict[str, int]) -> None:
    """Most campaigns completed, 4% running, the rest scheduled (a quarter of those within
    15 minutes) or idle; nothing failed or overdue."""
    fleet = long_used(count)
    assert Counter(c.state(T0) for c in fleet) == shape
    running = sum(c.state(T0) == "running" for c in fleet)
    assert 0.03 <= running / count <= 0.05
    sends = [c.send_at for c in fleet if c.state(T0) == "scheduled" and c.send_at is not None]
    assert sum(send_at - T0 <= 15 * 60 for send_at in sends) == shape["scheduled"] // 4


@pytest.mark.parametrize(("count", "deep"), [(2000, 20), (10_000, 100)])
def test_a_quarter_of_the_running_campaigns_were_edited_weeks_ago(count: int, deep: int) -> None:
    """Those sit past the first three pages of the ``updatedAt``-desc listing of published
    campaigns; the other running ones were edited within two days."""
    fleet = long_used(count)
    running = [c for c in fleet if c.state(T0) == "running"]
    old = [c for c in running if 7 * DAY <= T0 - c.updated_at <= 30 * DAY]
    assert (len(running), len(old)) == (count // 25, deep)
    assert all(T0 - c.updated_at < 2 * DAY for c in running if c not in old)
    listing = sorted(
        (c for c in fleet if c.authoring_status == "published"),
        key=lambda c: (c.updated_at, c.campaign_id),
        reverse=True,
    )
    first_pages = {c.campaign_id for c in listing[:300]}
    assert [c for c in old if c.campaign_id in first_pages] == []


def test_long_used_fleet_is_the_same_for_the_same_seed() -> None:
    assert long_used(2000) == long_used(2000)
    assert long_used(2000) != long_used(2000, seed=43)


def test_most_long_used_campaigns_were_edited_shortly_before_their_send() -> None:
    """Within a day before it for most; weeks before for the recurring ones."""
    before = [
        c.send_at - c.updated_at
        for c in long_used(2000)
        if c.state(T0) == "completed" and c.send_at is not None
    ]
    shortly = sum(0 < gap <= DAY for gap in before)
    weeks = sum(7 * DAY <= gap <= 45 * DAY for gap in before)
    assert (len(before), shortly, weeks) == (1640, 1284, 356)


def test_an_unknown_preset_is_refused() -> None:
    with pytest.raises(ValueError, match='unknown preset "old": expected one of long-used'):
        SimulatorSettings(preset="old")


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
