"""Campaigns by state, the family every source renders of all its campaigns: each state
the vendor documents (zero when none is in it), then any other it answered, sorted."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from ..exposition.render import MetricFamily


def render_by_state(
    family: MetricFamily, source: str, states: Iterable[str], by_state: Mapping[str | None, int]
) -> MetricFamily:
    """``family`` (labelled source and state) with one sample per state; campaigns of no
    known state are not counted."""
    counts = Counter({state: n for state, n in by_state.items() if state is not None})
    for state in states:
        family.add((source, state), counts.pop(state, 0))
    for state, count in sorted(counts.items()):
        family.add((source, state), count)
    return family
