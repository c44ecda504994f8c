"""The Experiture discovery walk over a page fetcher: every way a listing can misbehave,
as a table of pages and what the walk must make of them."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from exporter.sources.experiture.discovery import Walk, walk
from exporter.sources.experiture.model import CampaignPage, ListedCampaign

pytestmark = pytest.mark.anyio


def listed(cid: str) -> ListedCampaign:
    return ListedCampaign(cid, None, None, None, None)


@dataclass
class Listing:
    """A fake vendor listing: ``ids`` served by offset and limit, or a scripted behaviour."""

    ids: list[str]
    total: int | None = None  # what pagination.total claims; None: the real count
    repeat: bool = False  # ignores offset: every page is the first
    grow_by: int = 0  # campaigns added at the front before each page
    requests: list[tuple[int, int]] = field(default_factory=list)

    async def fetch(self, offset: int, limit: int) -> CampaignPage:
        self.requests.append((offset, limit))
        if self.grow_by:
            self.ids[:0] = [f"new{len(self.requests)}-{i}" for i in range(self.grow_by)]
        start = 0 if self.repeat else offset
        items = [listed(c) for c in self.ids[start : start + limit]]
        return CampaignPage(items, self.total if self.total is not None else len(self.ids))


def ids(n: int) -> list[str]:
    return [f"c{i}" for i in range(n)]


async def run(listing: Listing, page_size: int, cap: int) -> Walk:
    result = Walk()
    await walk(listing.fetch, page_size, cap, result)
    return result


async def test_a_short_last_page_ends_the_walk() -> None:
    listing = Listing(ids(25))
    result = await run(listing, 10, 100)
    assert list(result.found) == ids(25)
    # pages at 0, 10, 20, then the first page once more
    assert listing.requests == [(0, 10), (10, 10), (20, 10), (0, 10)]
    assert result.left_out == 0 and result.complete


async def test_an_empty_listing_is_one_request() -> None:
    listing = Listing([])
    result = await run(listing, 10, 100)
    assert result.found == {} and listing.requests == [(0, 10)] and result.complete


async def test_an_exact_multiple_stops_at_the_total() -> None:
    listing = Listing(ids(20))
    result = await run(listing, 10, 100)
    assert len(result.found) == 20
    assert listing.requests == [(0, 10), (10, 10), (0, 10)]


async def test_an_empty_page_ends_the_walk_whatever_the_total_claims() -> None:
    listing = Listing(ids(20), total=1000)
    result = await run(listing, 10, 100)
    assert len(result.found) == 20
    assert listing.requests == [(0, 10), (10, 10), (20, 10), (0, 10)]


async def test_a_repeated_page_stops_the_walk_and_marks_it_incomplete() -> None:
    listing = Listing(ids(50), repeat=True)
    result = await run(listing, 10, 100)
    assert list(result.found) == ids(10)
    assert result.repeated and not result.complete
    assert len(listing.requests) == 3  # two pages and the re-read of the first


async def test_a_growing_listing_is_bounded_by_the_cap() -> None:
    listing = Listing(ids(50), grow_by=3)
    result = await run(listing, 10, 30)
    assert len(result.found) == 30
    # ceil(30 / 10) + 1 pages, the re-read of the first, the check of the total: no more
    assert len(listing.requests) == 6


async def test_past_the_cap_a_true_total_counts_what_was_left_out() -> None:
    listing = Listing(ids(100))
    result = await run(listing, 10, 25)
    assert len(result.found) == 25
    assert result.left_out == 75
    assert (99, 1) in listing.requests  # the entry at total - 1 was checked


async def test_past_the_cap_a_false_total_counts_only_what_was_seen() -> None:
    listing = Listing(ids(100), total=999_999_999)
    result = await run(listing, 10, 25)
    assert len(result.found) == 25
    assert result.left_out == 40 - 25  # four pages seen, the claim not believed
    assert (999_999_998, 1) in listing.requests


async def test_unreadable_entries_fill_their_slot_and_make_the_walk_incomplete() -> None:
    pages = {
        0: CampaignPage([listed("a"), listed("b")], None, unreadable=1),
        3: CampaignPage([listed("c")], None, refused=1, beyond_limit=40),
    }
    asked: list[int] = []

    async def fetch(offset: int, limit: int) -> CampaignPage:
        asked.append(offset)
        return pages.get(offset, CampaignPage([], None))

    result = Walk()
    await walk(fetch, 3, 100, result)
    # a page of two readable and one unreadable entry is full: the walk goes on
    assert asked == [0, 3, 0]
    assert list(result.found) == ["a", "b", "c"]
    assert (result.unreadable, result.refused, result.beyond_limit) == (2, 1, 40)
    assert not result.complete
