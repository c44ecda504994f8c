"""Discovery: the guarded walk over ``GET /campaigns`` pages, as a pure function of a page
fetcher, so every way a listing can misbehave is a table test."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from .model import CampaignPage, ListedCampaign

FetchPage = Callable[[int, int], Awaitable[CampaignPage]]  # (offset, limit) -> page
Unchanged = Callable[[CampaignPage], bool]  # a page holds nothing new since the last walk


@dataclass
class Walk:
    """What one walk found, and what it could not read or had to leave out."""

    found: dict[str, ListedCampaign] = field(default_factory=dict)
    left_out: int = 0  # campaigns past the cap
    unreadable: int = 0  # entries without an id
    refused: int = 0  # entries with an unsafe id
    beyond_limit: int = 0  # entries past the page size asked for
    repeated: bool = False  # a page came back the same as the one before
    whole: bool = True  # walked to the end (not stopped at the head by ``unchanged``)
    pages: int = 0  # pages fetched

    @property
    def complete(self) -> bool:
        """Every listed campaign was read: the listing can say who is gone."""
        return not (self.unreadable or self.refused or self.repeated)


async def walk(
    fetch: FetchPage, page_size: int, cap: int, into: Walk, unchanged: Unchanged | None = None
) -> None:
    """Offset pagination, guarded: a short, empty or repeated page ends it; it reads no
    more pages than the cap needs; a claimed ``total`` is checked before it is believed.
    With ``unchanged``, only the head is walked: the first page holding nothing new ends it.

    Sorted newest-edit first, so a campaign edited during the walk jumps to the front;
    reading the first page once more at the end picks those up.
    """
    offset, pages, max_pages = 0, 0, math.ceil(cap / page_size) + 1
    seen: set[str] = set()
    previous: list[str] | None = None
    total: int | None = None
    capped = False
    while True:
        page = await fetch(offset, page_size)
        pages += 1
        into.pages += 1
        ids = _take(page, into, seen, cap)
        if ids and ids == previous:
            into.repeated = True
            break
        previous, total = ids, page.total if page.total is not None else total
        offset += page_size
        if page.size < page_size or (total is not None and offset >= total):
            break  # the end of the listing
        if unchanged is not None and unchanged(page):
            into.whole = False
            break
        if pages >= max_pages:
            capped = True
            break
    if pages > 1 and into.whole:  # a head walk's next walk picks up edits made meanwhile
        _take(await fetch(0, page_size), into, seen, cap)
        into.pages += 1
    into.left_out += max(0, len(seen) - len(into.found))
    # Past the cap, the vendor's total says how many more there are; it is believed only
    # when the listing has an entry at total - 1.
    if capped and total is not None and total > len(seen):
        into.pages += 1
        if (await fetch(total - 1, 1)).size:
            into.left_out += total - len(seen)


def _take(page: CampaignPage, into: Walk, seen: set[str], cap: int) -> list[str]:
    into.unreadable += page.unreadable
    into.refused += page.refused
    into.beyond_limit += page.beyond_limit
    ids = []
    for item in page.items:
        ids.append(item.campaign_id)
        seen.add(item.campaign_id)
        if item.campaign_id in into.found or len(into.found) < cap:
            into.found[item.campaign_id] = item
    return ids
