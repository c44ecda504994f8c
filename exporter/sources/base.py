"""The one small interface every upstream source implements, and what a source kind tells
the rest of the exporter (config schema, how to build it, how the status page shows it)."""

from __future__ import annotations

import typing
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from ..books.ledger import Book, Entry, carry_over
from ..books.reads import Outcome, Read, SourceError, Urgency
from ..config.schema import DEFAULT_CLASS, SourceConfig
from ..config.thresholds import DAY, Thresholds
from ..exposition.render import MetricFamily
from ..telemetry import Telemetry
from ..upstream.client import UpstreamClient
from ..upstream.egress import Egress
from ..upstream.failures import ErrorFields

__all__ = [
    "Attention",
    "CampaignRow",
    "Display",
    "Source",
    "SourceError",
    "SourceKind",
    "campaign_urgency",
]

C = TypeVar("C", bound=SourceConfig)
S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class CampaignRow:
    """One campaign as the status page shows it. Times are Unix seconds, None when the
    vendor does not say."""

    campaign_id: str
    name: str
    state: str
    done: int | None  # e.g. records sent, or messages sent
    total: int | None  # e.g. records scheduled, or recipients
    failure_ratio: float | None  # e.g. failed/scheduled, or bounced/sent
    updated_at: float | None
    error: str | None = None
    paused: bool = False
    channel: str | None = None  # e.g. email, sms
    send_at: float | None = None  # when it is scheduled to send
    send_deadline: float | None = None  # late after this, if later than send_at (a batch day)
    started_at: float | None = None
    finished_at: float | None = None  # when it completed, failed or was cancelled
    progress_at: float | None = None  # when its counts last moved, where the source tracks it
    ratio_base: int | None = None  # the denominator of failure_ratio
    state_since: float | None = None  # when the exporter first saw it in this state
    first_seen: float | None = None  # when the exporter first saw it at all
    # finished_at is when the exporter first saw it finished, not when it finished (the
    # vendor gives no time): shown as "seen failed since", never as the moment it failed
    times_learned: bool = False


class Source(ABC, Generic[C, S]):
    """How to read, parse and render one upstream system; ``S`` is its campaign snapshot.

    A source's work is a stream of reads (``reads.Read``): it says which reads its
    first walk and each landed read make due, with their urgency; the core keeps them,
    spends the budget on them and keeps the books (exporter.books.ledger, exporter.run.scheduler). A
    source never decides shard, cap, retention or what to keep when a read fails.
    """

    terminal_states: ClassVar[frozenset[str]] = frozenset()
    active_states: ClassVar[frozenset[str]] = frozenset()  # running: read every interval
    # The vendor's rate-limit classes; each has its own budget and dispatcher.
    endpoint_classes: ClassVar[tuple[str, ...]] = (DEFAULT_CLASS,)
    # The family holding each campaign's read time (last_updated), samples empty; None:
    # a campaign read again as it was renders whole.
    read_time_family: ClassVar[MetricFamily | None] = None

    def __init__(self, config: C, client: UpstreamClient) -> None:
        self.config = config
        self.client = client

    @property
    def name(self) -> str:
        return self.config.name

    def first_reads(self, book: Book[S]) -> list[Read]:
        """What is due at start: by default one walk of the list, every poll interval."""
        return [self.walk_read(book.monotonic())]

    def walk_read(self, due: float) -> Read:
        interval = self.config.poll_interval
        cls = self.endpoint_classes[0]
        return Read("walk", "", cls, Urgency.ACTIVE, due, interval, walk=True, campaign=False)

    def reads_for(self, campaign_id: str, book: Book[S], due: float, rank: float) -> list[Read]:
        """The reads a campaign newly listed (``rank``: its place in the listing), or edited
        (rank 0), makes due at ``due`` (none where the walk reads campaigns whole)."""
        return []

    @abstractmethod
    async def perform(self, read: Read, book: Book[S]) -> Outcome[S]:
        """One read: ask, parse, and say what follows."""

    @abstractmethod
    def state_of(self, snapshot: S) -> str | None: ...

    def finished_at(self, snapshot: S) -> float | None:
        """When the campaign finished, when the vendor says so (else the ledger uses the
        time it first saw it in a terminal state)."""
        return None

    @classmethod
    def snapshot_type(cls) -> Any:
        """``S``: the type a stored snapshot is restored as."""
        for klass in cls.__mro__:
            for base in getattr(klass, "__orig_bases__", ()):
                if typing.get_origin(base) is Source:
                    return typing.get_args(base)[1]
        raise TypeError(f"{cls.__name__} does not say its snapshot type")

    def stored(self, snapshot: S) -> S:
        """The snapshot as it is written to storage: without monotonic times (they mean
        nothing after a restart)."""
        return snapshot

    def merge(self, previous: S, new: S) -> S:
        """A new snapshot over the last good one: null fields keep their values."""
        return carry_over(previous, new)  # type: ignore[no-any-return]

    @abstractmethod
    def render(self, entries: Sequence[Entry[S]]) -> list[MetricFamily]:
        """The per-campaign families of these campaigns."""

    def render_read_time(self, entry: Entry[S]) -> list[MetricFamily] | None:
        """What a campaign read again and found as it was renders anew: its read time
        (``read_time_family``, labelled source and campaign_id), the rest of its lines
        staying as they are. None: render it whole (``render``)."""
        spec = self.read_time_family
        if spec is None:
            return None
        family = MetricFamily(spec.name, spec.kind, spec.help, spec.label_names)
        family.add((self.name, entry.campaign_id), entry.updated_at)
        return [family]

    def totals(self, by_state: Mapping[str | None, int]) -> list[MetricFamily]:
        """The source's own families, of all its campaigns (e.g. campaigns by state)."""
        return []

    @abstractmethod
    def row(self, entry: Entry[S]) -> CampaignRow:
        """What the status page shows of one campaign."""

    async def aclose(self) -> None:
        await self.client.aclose()


def campaign_urgency(
    state: str | None,
    finished_at: float | None,
    active: frozenset[str],
    terminal: frozenset[str],
    now: float,
    settle_for: float,
    sends_at: float | None = None,
    lead: float = 0.0,
) -> Urgency:
    """How urgent reading a campaign's state again is, from what was read last: running
    (or due to send within ``lead``) first, then finished within ``settle_for``, then the
    rest. (A campaign never read is ``Urgency.UNREAD``.)"""
    if state in active or (sends_at is not None and sends_at - lead <= now):
        return Urgency.ACTIVE
    if state in terminal and finished_at is not None and now - finished_at < settle_for:
        return Urgency.SETTLING
    return Urgency.IDLE


@dataclass(frozen=True)
class Attention:
    """When a campaign of a kind needs an operator's eyes on the status page: the
    thresholds of the alerts the kind ships, as a config's ``thresholds:`` sets them."""

    ratio_warn: float  # a ratio above this is highlighted
    ratio_min: int = 0  # ... and needs attention once its denominator is at least this
    # ... while it finished less than this long ago (a day: for a kind whose ratio alert
    # has no such window, the page's own)
    ratio_within: float = DAY
    overdue_after: float = 0.0  # an overdue state needs attention this long past send_at
    # An "active" campaign whose counts have not moved for this long is stalled.
    stall_after: float | None = None


def ratio_as_failure_ratio(thresholds: Thresholds) -> Attention:
    """A kind with no alert of its own on its ratio: read as CampaignHighFailureRatio's."""
    return Attention(
        thresholds.failure_ratio, ratio_within=thresholds.failure_ratio_completed_within
    )


@dataclass(frozen=True)
class Display:
    """How the status page shows a source kind's campaigns, and which thresholds say what
    in them needs an operator (``attention``, of the thresholds in force)."""

    progress: str  # heading of the done/total column, e.g. "sent / scheduled"
    ratio: str  # heading of the ratio column, e.g. "failed / scheduled"
    # Rank of each state on the page, troubled and active first; others come last.
    state_rank: Mapping[str, int] = field(default_factory=dict)
    # How each state is coloured: "active", "bad", "late" or "done".
    tones: Mapping[str, str] = field(default_factory=dict)
    failed_states: frozenset[str] = frozenset()  # always need attention
    overdue_states: frozenset[str] = frozenset()  # need attention once past send_at
    attention: Callable[[Thresholds], Attention] = ratio_as_failure_ratio


@dataclass(frozen=True)
class SourceKind(Generic[C]):
    """A source type: its config schema, how to build it, how it is shown, and how its
    API's error envelope reads."""

    type_name: str
    config_model: type[C]
    create: Callable[[C, UpstreamClient], Source[C, Any]]
    display: Display
    error_fields: ErrorFields  # (code, message, correlation id) of an error body
    correlation_headers: tuple[str, ...] = ()
    # error codes of a 409 that means "this campaign's type is not exposed"
    unsupported_codes: frozenset[str] = frozenset()

    @property
    def metric_families(self) -> tuple[str, ...]:
        """Every family a source of this kind renders, as its config schema names them."""
        return self.config_model.metric_families

    def client(self, config: C, telemetry: Telemetry, **options: Any) -> UpstreamClient:
        """The HTTP client for one source of this kind, reading its API's envelopes."""
        settings: dict[str, Any] = {
            "timeout": config.timeout,
            "concurrency": config.concurrency,
            "rate_limit": config.rate_limit,
            "rate_limits": config.rate_limits,
            "max_response_size": config.max_response_size,
            "egress": Egress.of(config),
            **options,
        }
        return UpstreamClient(
            config.name,
            telemetry,
            error_fields=self.error_fields,
            correlation_headers=self.correlation_headers,
            unsupported_codes=self.unsupported_codes,
            **settings,
        )
