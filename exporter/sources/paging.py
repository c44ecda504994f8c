"""Guarded pagination, for every source that reads a vendor's list in pages: reading a
page's entries (those without an id, with an unsafe id or past the size asked for are
counted, not read), the forward read that a short, repeated or capped page ends, and the
accounting of what pages could not read. How a vendor numbers its pages, which end of its
list is newest and whether a claimed total holds stay with the vendor."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from ..books.reads import Outcome
from ..books.reasons import ErrorReason, SkipReason
from ..upstream.failures import UpstreamError
from .failure_digest import FailureDigest
from .fields import InvalidId

T = TypeVar("T")


class Listed(Protocol):
    @property
    def campaign_id(self) -> str: ...


class Page(Protocol):
    """One page of a vendor's list, as its parser read it."""

    @property
    def items(self) -> Sequence[Listed]: ...

    @property
    def size(self) -> int:
        """Entries read, readable or not (at most the page size asked for)."""
        ...

    @property
    def unreadable(self) -> int: ...  # entries without an id

    @property
    def refused(self) -> int: ...  # entries whose id is unsafe to poll or label by

    @property
    def beyond_limit(self) -> int: ...  # entries past the page size asked for, not read


P = TypeVar("P", bound=Page)


@dataclass(frozen=True, slots=True)
class Entries(Generic[T]):
    """A page's entries as read: the readable ones, and how many were not."""

    items: list[T]
    unreadable: int  # entries without an id
    refused: int  # entries whose id is unsafe
    beyond_limit: int  # entries past the page size asked for, not read


def read_entries(raw: list[Any], limit: int, read: Callable[[Any], T | None]) -> Entries[T]:
    """Each of the first ``limit`` entries (what was asked for) by ``read``: None when it
    has no id, ``InvalidId`` when its id is unsafe."""
    items: list[T] = []
    unreadable = refused = 0
    for entry in raw[:limit]:
        try:
            item = read(entry)
        except InvalidId:
            refused += 1
            continue
        if item is None:
            unreadable += 1
            continue
        items.append(item)
    return Entries(items, unreadable, refused, max(0, len(raw) - limit))


def ids(page: Page) -> list[str]:
    return [item.campaign_id for item in page.items]


def max_pages(cap: int, page_size: int) -> int:
    """The most pages a walk reads: enough for the cap, and one more."""
    return math.ceil(cap / page_size) + 1


@dataclass
class PageFaults:
    """What a walk's pages could not read: counted as malformed answers (and, for unsafe
    ids, as skipped campaigns), and named in the source's failure digest."""

    unreadable: int = 0  # entries without an id
    refused: int = 0  # entries with an unsafe id
    beyond_limit: int = 0  # entries past the page size asked for
    repeated: bool = False  # a page came back the same as the one before

    def add(self, page: Page) -> None:
        self.unreadable += page.unreadable
        self.refused += page.refused
        self.beyond_limit += page.beyond_limit

    def count(
        self,
        outcome: Outcome[Any],
        digest: FailureDigest,
        endpoint: str,
        limit_name: str,
        correlation_id: str | None = None,
    ) -> None:
        """Into the read's outcome; ``limit_name`` is what the vendor calls its page size."""
        bad = self.unreadable + self.refused + int(self.repeated)
        if bad or self.beyond_limit:
            outcome.errors[ErrorReason.MALFORMED] += bad or 1
            detail = (
                f"{self.unreadable} entries without an id, {self.refused} with an unsafe "
                f"id, {self.beyond_limit} past {limit_name}"
                + (", a page repeated" if self.repeated else "")
            )
            digest.add(
                UpstreamError(
                    ErrorReason.MALFORMED, endpoint, detail, correlation_id=correlation_id
                )
            )
        outcome.skipped[SkipReason.INVALID_ID] += self.refused


@dataclass
class PageRun(Generic[P]):
    """The pages a forward read brought back, and why it stopped."""

    pages: list[P] = field(default_factory=list)
    repeated: P | None = None  # the same as the page before it: the read stopped there
    claimed: int | None = None  # the entries the list last claimed to hold
    stopped: bool = False  # ``stop`` ended it
    capped: bool = False  # the page limit ended it, the list not at its end

    @property
    def fetched(self) -> int:
        return len(self.pages) + (self.repeated is not None)


async def read_forward(
    fetch: Callable[[int], Awaitable[P]],
    page_size: int,
    limit: int,
    *,
    first: P | None = None,
    claimed: Callable[[P], int | None] = lambda page: None,
    stop: Callable[[P], bool] | None = None,
) -> PageRun[P]:
    """Pages 0, 1, ... (``fetch`` of a page's number; ``first``: page 0, already read),
    guarded: a short page, or one reaching what the list ``claimed`` to hold (the last
    claim a page made), is the end; a page the same as the one before it (a server that
    ignores the page asked for) ends it; ``stop`` may end it early; and it reads at most
    ``limit`` pages."""
    run: PageRun[P] = PageRun()
    page = first if first is not None else await fetch(0)
    while True:
        if run.pages and page.items and ids(page) == ids(run.pages[-1]):
            run.repeated = page
            return run
        run.pages.append(page)
        read = len(run.pages)
        if (said := claimed(page)) is not None:
            run.claimed = said
        if page.size < page_size or (run.claimed is not None and read * page_size >= run.claimed):
            return run
        if stop is not None and stop(page):
            run.stopped = True
            return run
        if read >= limit:
            run.capped = True
            return run
        page = await fetch(read)
