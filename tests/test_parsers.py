"""Whatever JSON comes back, the parsers return a snapshot or raise their own ParseError."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.sources.experiture import model
from exporter.sources.greenarrow import model as ga_model

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=6)
    ),
    max_leaves=30,
)
KEYS = [
    "success",
    "data",
    "pagination",
    "execution",
    "lastExecution",
    "counts",
    "schedule",
    "sendAt",
    "state",
    "audience",
    "content",
    "template",
    "reach",
    "campaignId",
    "total",
    "limit",
    "included",
    "startedAt",
    "completedAt",
    "scheduled",
    "failed",
    "sent",
]
shaped = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.sampled_from(["2026-05-01T09:00:05.000Z", "not a date", "running", ""]),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=8)
    ),
    max_leaves=40,
)

PARSERS = [model.parse_page, model.parse_status, model.parse_metrics, model.parse_summary]


@pytest.mark.parametrize("parse", PARSERS, ids=lambda p: p.__name__)
@settings(max_examples=300)
@given(body=json_values | shaped)
def test_parsers_raise_only_their_own_error(parse: Any, body: Any) -> None:
    with contextlib.suppress(model.ParseError):
        parse(body)


@given(data=shaped)
def test_status_parser_keeps_only_valid_counts(data: Any) -> None:
    try:
        status = model.parse_status({"success": True, "data": data})
    except model.ParseError:
        return
    for value in (status.counts or {}).values():
        assert isinstance(value, int) and value >= 0


@settings(max_examples=300)
@given(body=json_values | shaped)
def test_greenarrow_parser_raises_only_its_own_errors(body: Any) -> None:
    with contextlib.suppress(ga_model.ParseError, ga_model.ApiError):
        page = ga_model.parse_page(body)
        for snap in page.items:
            for group in snap.stats.values():
                assert all(isinstance(v, int) and v >= 0 for v in group.values())


@given(item=shaped)
def test_greenarrow_item_inside_a_good_envelope(item: Any) -> None:
    body = {"success": True, "num_pages": 1, "data": {"campaign_report": [item]}}
    page = ga_model.parse_page(body)
    assert len(page.items) + page.unreadable == 1
