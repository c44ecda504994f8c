"""Discovery: the guarded walk over ``GET /campaigns`` pages, as a pure function of a page
fetcher, so every way a listing can misbehave is a table test."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ..paging import PageFaults, max_pages, read_forward
from .model import CampaignPage, ListedCampaign

FetchPage = Callable[[int, int], Awaitable[CampaignPage]]  # (offset, limit) -> page
Unchanged = Callable[[CampaignPage], bool]  # a page holds nothing new since the last walk


@dataclass
class Walk(PageFaults):
    """What one walk found, and what it could not read or had to leave out."""

    found: dict[str, ListedCampaign] = field(default_factory=dict)
    left_out: int = 0  # campaigns past the cap
    whole: bool = True  # walked to the end (not stopped at the head by ``unchanged``)
    pages: int = 0  # pages fetched

    @property
    def complete(self) -> bool:
        """Every listed campaign was read: the listing can say who is gone."""
        return not (self.unreadable or self.refused or self.repeated)


async def walk(
    fetch: FetchPage, page_size: int, cap: int, into: Walk, unchanged: Unchanged | None = None
) -> None:
    """Offset pagination, guarded (``paging.read_forward``): a short, empty or repeated
    page ends it; it reads no more pages than the cap needs; a claimed ``total`` is
    checked before it is believed. With ``unchanged``, only the head is walked: the first
    page holding nothing new ends it.

    Sorted newest-edit first, so a campaign edited during the walk jumps to the front;
    reading the first page once more at the end picks those up.
    """
    run = await read_forward(
        lambda number: fetch(number * page_size, page_size),
        page_size,
        max_pages(cap, page_size),
        claimed=lambda page: page.total,
        stop=unchanged,
    )
    into.pages += run.fetched
    seen: set[str] = set()
    for page in run.pages:
        _take(page, into, seen, cap)
    if run.repeated is not None:
        _take(run.repeated, into, seen, cap)
        into.repeated = True
    if run.stopped:
        into.whole = False
    if run.fetched > 1 and into.whole:  # a head walk's next walk picks up edits made meanwhile
        _take(await fetch(0, page_size), into, seen, cap)
        into.pages += 1
    into.left_out += max(0, len(seen) - len(into.found))
    # Past the cap, the vendor's total says how many more there are; it is believed only
    # when the listing has an entry at total - 1.
    total = run.claimed
    if run.capped and total is not None and total > len(seen):
        into.pages += 1
        if (await fetch(total - 1, 1)).size:
            into.left_out += total - len(seen)


def _take(page: CampaignPage, into: Walk, seen: set[str], cap: int) -> None:
    into.add(page)
    for item in page.items:
        seen.add(item.campaign_id)
        if item.campaign_id in into.found or len(into.found) < cap:
            into.found[item.campaign_id] = item
