"""The long-used preset's fleet: its shape by state, when its campaigns were edited, and the
same fleet for the same seed."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from exporter.simulator.experiture import ExperitureWorld, SimCampaign

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
