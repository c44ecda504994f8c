"""The ledger's indexes (campaigns by state, campaigns not read yet) against the books
they index, over random walks and reads: a publication and a scrape read the indexes,
never the 10,000 entries."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, ClassVar

from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.books.ledger import Ledger
from exporter.books.reads import Listing, Outcome
from exporter.clock import ManualClock
from exporter.config.schema import SourceConfig


@dataclass(frozen=True)
class Snap:
    state: str


class Books:
    """What the ledger needs of a source: a state per snapshot, two terminal states."""

    terminal_states: ClassVar[frozenset[str]] = frozenset({"done", "failed"})

    def __init__(self, cap: int) -> None:
        self.config = SourceConfig(
            name="b",
            type="books",
            base_url="http://books.invalid",
            max_campaigns=cap,
            retention=60.0,
        )

    def state_of(self, snapshot: Snap) -> str | None:
        return snapshot.state

    def finished_at(self, snapshot: Snap) -> float | None:
        return None

    def merge(self, previous: Snap, new: Snap) -> Snap:
        return new


ids = st.sampled_from(["a", "b", "c", "d", "e"])
walk = st.tuples(st.just("walk"), st.lists(ids, max_size=5), st.booleans())
read = st.tuples(st.just("read"), ids, st.sampled_from(["running", "done", "failed", "paused"]))
gone = st.tuples(st.just("gone"), ids, st.just(""))
steps = st.lists(st.one_of(walk, read, gone), max_size=25)


@settings(max_examples=150, deadline=None)
@given(steps, st.integers(1, 5))
def test_the_indexes_follow_the_books(script: list[tuple[Any, ...]], cap: int) -> None:
    clock = ManualClock()
    ledger: Ledger[Snap] = Ledger(Books(cap), clock=clock)
    for kind, subject, detail in script:
        clock.advance(25.0)  # terminal campaigns retire after 60 s
        if kind == "walk":
            ledger.select(Listing([(cid, "v1") for cid in subject], whole=detail))
        elif kind == "read":
            ledger.land(Outcome(read={subject: Snap(detail)}))
        else:
            ledger.land(Outcome(gone={subject}))
        assert ledger.by_state() == dict(Counter(e.state for e in ledger.entries.values()))
        assert ledger.unread == len(set(ledger.versions) - set(ledger.entries))
        active = {e.campaign_id for e in ledger.in_states(["running", "paused"])}
        assert active == {
            cid for cid, e in ledger.entries.items() if e.state in ("running", "paused")
        }


def test_a_campaign_read_in_a_new_state_moves_between_the_counts() -> None:
    clock = ManualClock()
    ledger: Ledger[Snap] = Ledger(Books(10), clock=clock)
    ledger.select(Listing([("a", "v1"), ("b", "v1"), ("c", "v1")]))
    assert ledger.unread == 3 and ledger.by_state() == {}
    ledger.land(Outcome(read={"a": Snap("running"), "b": Snap("running")}))
    assert ledger.unread == 1 and ledger.by_state() == {"running": 2}
    ledger.land(Outcome(read={"a": Snap("paused")}))
    assert ledger.by_state() == {"running": 1, "paused": 1}
    ledger.select(Listing([("b", "v1"), ("c", "v1")]))  # "a" is gone from the list
    assert ledger.by_state() == {"running": 1} and ledger.unread == 1


def test_a_campaign_read_again_as_it_was_publishes_only_its_read_time() -> None:
    clock = ManualClock(wall=1_000.0)
    ledger: Ledger[Snap] = Ledger(Books(10), clock=clock)
    ledger.select(Listing([("a", "v1"), ("b", "v1")]))
    ledger.land(Outcome(read={"a": Snap("running"), "b": Snap("running")}))
    assert ledger.take_dirty() == ({"a", "b"}, set())
    clock.advance(30.0)
    ledger.land(Outcome(read={"a": Snap("running"), "b": Snap("done")}))
    assert ledger.take_dirty() == ({"b"}, {"a"})
    assert ledger.entries["a"].updated_at == 1_030.0
    ledger.land(Outcome(failed={"a": "status: HTTP 503"}))
    ledger.land(Outcome(read={"a": Snap("running")}))  # the error it showed clears
    assert ledger.take_dirty() == ({"a"}, set())
    ledger.land(Outcome(read={"a": Snap("running")}))
    ledger.land(Outcome(read={"a": Snap("paused")}))  # changed after: rendered whole
    assert ledger.take_dirty() == ({"a"}, set())
    ledger.land(Outcome(read={"b": Snap("done")}))
    ledger.land(Outcome(render_all=True))  # e.g. counts come from elsewhere now
    assert ledger.take_dirty() == ({"a", "b"}, set())
