"""The exposition of both source kinds, the exporter in this process: names follow the naming
guide where promtool does not check (no ``type`` label, no ``_by_`` in a family name)."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ..helpers import live_scrape

pytestmark = pytest.mark.anyio


async def test_names_follow_the_naming_guide() -> None:
    """No label called ``type`` (it says nothing of what is typed) and no ``_by_`` in a
    family name (a breakdown is what labels are for): checks promtool does not make."""
    samples = await live_scrape()
    families = list(text_string_to_metric_families(samples.text))
    assert len(families) > 40
    by_in_name = [f.name for f in families if "_by_" in f.name]
    type_label = sorted({f.name for f in families for s in f.samples if "type" in s.labels})
    assert by_in_name == []
    assert type_label == []
