"""The renderer against prometheus_client's parser."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exporter.exposition.render import (
    MetricFamily,
    assemble,
    format_value,
    pre_render,
)

from ...helpers import Samples


@given(st.text(max_size=40))
def test_any_label_value_round_trips_through_the_parser(value: str) -> None:
    fam = MetricFamily("x_records", "gauge", "help with \\ and\nnewline", ("v",))
    fam.add((value,), 1.0)
    samples = Samples(assemble([pre_render([fam])], openmetrics=False).decode())
    assert samples.values("x_records") == [({"v": value}, 1.0)]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (0.0, "0"),
        (-3.0, "-3"),
        (0.25, "0.25"),
        (1e20, "1e+20"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
        (math.nan, "NaN"),
        (2.0**60, "1.152921504606847e+18"),
    ],
)
def test_values_are_formatted_as_the_text_format_expects(value: float, text: str) -> None:
    assert format_value(value) == text


def test_one_header_per_family_across_sources() -> None:
    parts = []
    for source in ("a", "b"):
        fam = MetricFamily("x_total", "counter", "things", ("source",))
        fam.add((source,), 2.0)
        parts.append(pre_render([fam]))
    text = assemble(parts, openmetrics=False).decode()
    assert text.count("# TYPE x_total counter") == 1
    assert [v for _, v in Samples(text).values("x_total")] == [2.0, 2.0]
    om = assemble(parts, openmetrics=True).decode()
    assert "# TYPE x counter\n" in om


def test_empty_families_get_no_header() -> None:
    fam = MetricFamily("empty_records", "gauge", "nothing", ())
    assert assemble([pre_render([fam])], openmetrics=False) == b""
