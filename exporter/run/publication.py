"""What a publication does with the campaigns that changed since the last one: each
re-rendered alone (or only its read time, when read again as it was), the source's
``metrics:`` applied, handed to the exposition store with the source's totals, and the
status page's rows of them returned. At most one a second (``PUBLISH_EVERY``); run in a
worker thread, off the event loop."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..config.schema import MetricSelection
from ..exposition.render import MetricFamily, RenderedFamily, pre_render
from ..exposition.store import ExpositionStore
from . import memory

if TYPE_CHECKING:
    from ..sources.base import CampaignRow, Source

PUBLISH_EVERY = 1.0  # seconds: publications are coalesced to at most one a second
TRIM_AFTER = 500  # a publication re-rendering this many campaigns hands memory back


def render_changes(
    source: Source[Any, Any],
    store: ExpositionStore,
    shown_rows: Mapping[str, CampaignRow],
    entries: dict[str, Any],
    again: dict[str, Any],
    by_state: Mapping[str | None, int],
) -> dict[str, CampaignRow | None]:
    """Each changed campaign's families to the store, with the source's totals, and
    the read time of each read again as it was; their status-page rows (None:
    removed). ``shown_rows`` are the rows shown now. In a worker thread."""
    metrics = source.config.metrics
    entries = dict(entries)
    campaigns: dict[str, list[RenderedFamily] | None] = {}
    times: dict[str, list[RenderedFamily]] = {}
    rows: dict[str, CampaignRow | None] = {}
    for cid, entry in again.items():
        shown = shown_rows.get(cid)
        families = None if shown is None else source.render_read_time(entry)
        if shown is None or families is None:  # not shown yet, or rendered whole
            entries[cid] = entry
        else:
            times[cid] = pre_render(exported(families, metrics))
            rows[cid] = replace(shown, updated_at=entry.updated_at)
    for cid, entry in entries.items():
        if entry is None:
            campaigns[cid] = rows[cid] = None
            continue
        campaigns[cid] = pre_render(exported(source.render([entry]), metrics))
        rows[cid] = source.row(entry)
    totals = pre_render(exported(source.totals(by_state), metrics))
    store.update(source.name, campaigns, totals, times)
    if len(entries) >= TRIM_AFTER:
        memory.trim()  # may take milliseconds on a large heap: not on the event loop
    return rows


def exported(families: list[MetricFamily], metrics: MetricSelection) -> list[MetricFamily]:
    """What a source's ``metrics:`` keeps of its families; with sparse state sets, only
    each campaign's current state (the series of value 1) stays of a state set."""
    kept = [fam for fam in families if metrics.keeps(fam.name)]
    if metrics.state_sets == "sparse":
        for fam in kept:
            if fam.state_set:
                fam.samples = [sample for sample in fam.samples if sample[1] == 1.0]
    return kept
