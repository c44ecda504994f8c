"""Whatever JSON comes back, the parsers return a snapshot or raise ParseError."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.sources.experiture import model
from exporter.sources.fields import ParseError, count
from exporter.sources.greenarrow import model as ga_model

# What a hostile upstream sends that valid JSON allows: lone surrogates (a JavaScript
# backend cutting a string inside an emoji), control characters, 400-digit numbers.
hostile_text = st.sampled_from(["\ud800", "a\udfffb", "x\x00\x1b[31m\ny", "é" * 300, "."])
hostile_ints = st.integers(min_value=2**53, max_value=10**400) | st.integers(max_value=-1)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | hostile_text
    | hostile_ints,
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
    "name",
    "id",
    "campaign",
    "stats",
]
shaped = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.sampled_from(["2026-05-01T09:00:05.000Z", "not a date", "running", ""])
    | hostile_text
    | hostile_ints,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=8)
    ),
    max_leaves=40,
)

PARSERS = [
    functools.partial(model.parse_page, limit=100),
    model.parse_status,
    model.parse_metrics,
    model.parse_summary,
]


def assert_renderable(value: Any) -> None:
    """Every text encodes as UTF-8, has no control character and stays short; every
    number is exact as a float."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            assert_renderable(getattr(value, f.name))
    elif isinstance(value, dict):
        for k, v in value.items():
            assert_renderable(k)
            assert_renderable(v)
    elif isinstance(value, list | tuple):
        for v in value:
            assert_renderable(v)
    elif isinstance(value, str):
        value.encode("utf-8")
        assert len(value) <= 200
        assert not any(c < " " or c == "\x7f" for c in value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        assert abs(value) < 2**53


@pytest.mark.parametrize("parse", PARSERS, ids=["page", "status", "metrics", "summary"])
@settings(max_examples=300)
@given(body=json_values | shaped)
def test_parsers_raise_only_their_own_error(parse: Any, body: Any) -> None:
    with contextlib.suppress(ParseError):
        assert_renderable(parse(body))


HOSTILE = "Spring \ud83d sale\x1b[2J" + "x" * 300
BIG = 10**400
EXPERITURE_BODIES = [
    (PARSERS[0], {"success": True, "data": [{"campaignId": "c1", "name": HOSTILE}]}),
    (PARSERS[0], {"success": True, "data": [], "pagination": {"total": BIG}}),
    (
        model.parse_status,
        {
            "success": True,
            "data": {
                "name": HOSTILE,
                "execution": {
                    "state": "run\udc00ning",
                    "lastExecution": {"counts": {"sent": BIG, "failed": 1}},
                },
            },
        },
    ),
    (model.parse_metrics, {"success": True, "data": {"counts": {"scheduled": BIG}}}),
    (model.parse_summary, {"success": True, "data": {"name": HOSTILE, "channel": "\ud800"}}),
]


@pytest.mark.parametrize(("parse", "body"), EXPERITURE_BODIES)
def test_hostile_text_and_numbers_come_out_renderable(parse: Any, body: Any) -> None:
    assert_renderable(parse(body))


def test_greenarrow_hostile_entry_comes_out_renderable() -> None:
    item = {
        "campaign": {"id": 7, "name": HOSTILE, "state": "\ud800", "stats": {"sent": {"total": BIG}}}
    }
    page = ga_model.parse_page({"success": True, "num_pages": BIG, "data": [item]}, 100)
    assert_renderable(page)
    assert page.items[0].name is not None and page.items[0].name.startswith("Spring \ufffd sale")
    assert "sent" not in page.items[0].stats


@given(data=shaped)
def test_status_parser_keeps_only_valid_counts(data: Any) -> None:
    try:
        status = model.parse_status({"success": True, "data": data})
    except ParseError:
        return
    for value in (status.counts or {}).values():
        assert isinstance(value, int) and value >= 0


@settings(max_examples=300)
@given(body=json_values | shaped)
def test_greenarrow_parser_raises_only_its_own_errors(body: Any) -> None:
    with contextlib.suppress(ParseError, ga_model.ApiError):
        page = ga_model.parse_page(body, 100)
        assert_renderable(page)
        for snap in page.items:
            for group in snap.stats.values():
                assert all(isinstance(v, int) and v >= 0 for v in group.values())


@given(item=shaped)
def test_greenarrow_item_inside_a_good_envelope(item: Any) -> None:
    body = {"success": True, "num_pages": 1, "data": {"campaign_report": [item]}}
    page = ga_model.parse_page(body, 100)
    assert len(page.items) + page.unreadable + page.refused == 1
    assert_renderable(page)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, 0),
        (7, 7),
        (2**53 - 1, 2**53 - 1),
        (2**53, None),
        (-1, None),
        (True, None),
        (False, None),
        (3.0, 3),
        (2.5, 2),
        (float("nan"), None),
        (float("inf"), None),
        (-0.5, None),
        ("7", None),
        (None, None),
    ],
)
def test_a_count_is_a_non_negative_exact_number(value: Any, expected: int | None) -> None:
    assert count({"n": value}, "n") == expected
    assert count(["n"], "n") is None
