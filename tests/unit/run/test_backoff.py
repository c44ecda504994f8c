"""Back-off: the delay before a failing read is tried again, doubling after each further
failure up to five minutes, never shorter than the read's interval."""

from __future__ import annotations

import pytest

from exporter.run.readqueue import next_delay


@pytest.mark.parametrize(
    ("interval", "failures", "delay"),
    [
        (30.0, 0, 30.0),
        (30.0, 1, 30.0),
        (30.0, 2, 60.0),
        (30.0, 3, 120.0),
        (30.0, 4, 240.0),
        (30.0, 5, 300.0),
        (30.0, 40, 300.0),
        (100.0, 2, 200.0),
        (100.0, 3, 300.0),
        (600.0, 1, 600.0),
        (600.0, 4, 600.0),
        (3600.0, 9, 3600.0),
    ],
)
def test_next_delay_doubles_after_each_further_failure_up_to_five_minutes(
    interval: float, failures: int, delay: float
) -> None:
    assert next_delay(interval, failures) == delay


def test_a_failing_source_backs_off() -> None:
    assert next_delay(30, 0) == 30
    assert next_delay(30, 1) == 30
    assert [next_delay(30, n) for n in (2, 3, 4)] == [60, 120, 240]
    assert next_delay(30, 50) == 300.0  # the cap: five minutes
    assert next_delay(600, 5) == 600  # an interval longer than the cap is kept
