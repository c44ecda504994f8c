"""The exporter's own health: per-source status and counters of upstream traffic.

The single owner of that state: the poll loop, the upstream client and the reloader tell
it what happened (``record_*``), nobody assigns to it. Rendered on every scrape (a few
dozen samples), so counters move during a long refresh.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio
from prometheus_client import REGISTRY
from prometheus_client.metrics_core import Metric

from .. import __version__
from ..books.ledger import RefreshReport
from ..books.reasons import ErrorReason, SkipReason
from ..books.shard import Shard
from ..clock import SYSTEM_CLOCK, Clock
from ..exposition.render import Kind, MetricFamily
from .upstream import UpstreamMetrics

UPSTREAM_REQUESTS = "campaign_exporter_upstream_requests_total"
UPSTREAM_ERRORS = "campaign_exporter_upstream_errors_total"
UPSTREAM_RATE_LIMITED = "campaign_exporter_upstream_rate_limited_total"
CAMPAIGNS_SKIPPED = "campaign_exporter_campaigns_skipped_total"
SOURCE_UP = "campaign_exporter_source_up"
SOURCE_LAST_SUCCESS = "campaign_exporter_source_last_success_timestamp_seconds"
SOURCE_REFRESH_DURATION = "campaign_exporter_source_refresh_duration_seconds"
SOURCE_POLL_INTERVAL = "campaign_exporter_source_poll_interval_seconds"
SOURCE_REFRESHES = "campaign_exporter_source_refreshes_total"
SOURCE_CAMPAIGNS = "campaign_exporter_source_campaigns"
SOURCE_UNREFRESHED = "campaign_exporter_source_campaigns_unrefreshed"
SOURCE_FAILURES = "campaign_exporter_source_consecutive_failures"
SOURCE_READS = "campaign_exporter_source_reads_total"
SOURCE_READS_DUE = "campaign_exporter_source_reads_due"
SOURCE_READS_WAIT = "campaign_exporter_source_reads_oldest_wait_seconds"
SOURCE_RUNNING_AGE = "campaign_exporter_source_running_state_age_seconds"
SOURCE_UNREAD = "campaign_exporter_source_campaigns_unread"
URGENCIES = ("active", "unread", "detail", "settling", "idle")  # ledger.Urgency, in order
# "up" counts the reads of about the last poll interval: under half of them failed
BUILD_INFO = "campaign_exporter_build_info"
SHARD_INFO = "campaign_exporter_shard_info"
TOTAL_SHARDS = "campaign_exporter_total_shards"
CONFIG_RELOAD_OK = "campaign_exporter_config_last_reload_successful"
CONFIG_RELOAD_TS = "campaign_exporter_config_last_reload_success_timestamp_seconds"
CONFIG_INFO = "campaign_exporter_config_info"
STORAGE_WRITABLE = "campaign_exporter_storage_writable"
STORAGE_ERRORS = "campaign_exporter_storage_errors_total"
START_TS = "campaign_exporter_start_timestamp_seconds"


class Counter:
    """A labelled monotonic counter kept in a dict."""

    def __init__(self) -> None:
        self.values: defaultdict[tuple[str, ...], float] = defaultdict(float)

    def inc(self, labels: tuple[str, ...], amount: float = 1.0) -> None:
        self.values[labels] += amount

    def get(self, labels: tuple[str, ...]) -> float:
        return self.values.get(labels, 0.0)


@dataclass
class SourceStatus:
    """What the poll loop has told of one source's refreshes."""

    poll_interval: float
    type_name: str
    up: bool = False
    ready: bool = False
    last_success: float | None = None
    last_attempt: float | None = None
    last_duration: float | None = None
    last_error: str | None = None
    consecutive_failures: int = 0
    campaigns: int = 0
    unrefreshed: int = 0  # campaigns whose read failed in the last refresh
    rows: Sequence[Any] = ()  # sources.CampaignRow, for the status page
    warnings: tuple[str, ...] = ()  # how it connects, if an operator should know (insecure TLS)
    refreshes: dict[str, int] = field(
        default_factory=lambda: {"success": 0, "partial": 0, "failure": 0}
    )
    registered: float = 0.0  # Unix time the source started
    walk_ok: bool = False  # the last listing walk worked
    walk_error: str | None = None
    reads: dict[str, int] = field(default_factory=dict)  # by urgency
    # when each read of about the last poll interval landed, and each that failed
    recent_reads: deque[float] = field(default_factory=deque)
    recent_failures: deque[float] = field(default_factory=deque)
    # what the scheduler tells at each scrape: reads waiting by urgency (how many, oldest
    # wait), the running state's age, campaigns listed but never read
    waiting: Callable[[], Mapping[str, tuple[int, float]]] = dict
    running_age: Callable[[], float] = float
    unread: Callable[[], int] = int

    def show(self, rows: Sequence[Any]) -> None:
        """The status page's rows (sources.CampaignRow) of the campaigns published."""
        self.rows = rows
        self.unrefreshed = sum(1 for row in rows if row.error)


@dataclass(frozen=True)
class Backlog:
    """One source's backlog as its scheduler answered: reads waiting for the request budget
    by urgency (how many, the oldest one's wait in seconds), the age in seconds of the
    running campaigns' state, campaigns listed but never read."""

    waiting: Mapping[str, tuple[int, float]]
    running_age: float
    unread: int


Samples = Callable[["Telemetry"], list[tuple[tuple[str, ...], float]]]

RECENT_WINDOW = 3600.0  # "recent trouble" on the status page: the last hour
# Answers that are how the API says "not this one" (a campaign type it does not serve, a
# campaign deleted): counted in errors_total, but no trouble for an operator.
NOT_TROUBLE = frozenset({ErrorReason.UNSUPPORTED, ErrorReason.NOT_FOUND})
TALLY_SPACING = 60.0  # so the window is an hour to the minute, from at most ~62 tallies


@dataclass(frozen=True)
class Trouble:
    """Counts of what went wrong with one source."""

    rate_limited: int = 0  # answers of 429
    errors: int = 0  # failed upstream requests, but for NOT_TROUBLE
    failed_refreshes: int = 0

    def __sub__(self, other: Trouble) -> Trouble:
        # A source removed and added again starts from zero: never a negative count.
        return Trouble(
            max(0, self.rate_limited - other.rate_limited),
            max(0, self.errors - other.errors),
            max(0, self.failed_refreshes - other.failed_refreshes),
        )

    def __add__(self, other: Trouble) -> Trouble:
        return Trouble(
            self.rate_limited + other.rate_limited,
            self.errors + other.errors,
            self.failed_refreshes + other.failed_refreshes,
        )


@dataclass(frozen=True)
class Tally:
    """Each source's trouble counters as they stood at one moment."""

    at: float
    counts: Mapping[str, Trouble]


@dataclass(frozen=True)
class Recent:
    """Trouble within a recent window: the last hour, or since start when younger."""

    seconds: float
    since_start: bool
    by_source: Mapping[str, Trouble]

    @property
    def total(self) -> Trouble:
        return sum(self.by_source.values(), Trouble())


@dataclass(frozen=True)
class Family:
    """One family of the exporter's own metrics: how to read its samples off telemetry."""

    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...]
    samples: Samples


def _per_source(read: Callable[[SourceStatus], float | None]) -> Samples:
    def samples(t: Telemetry) -> list[tuple[tuple[str, ...], float]]:
        found = [((name,), read(st)) for name, st in sorted(t.sources.items())]
        return [(labels, value) for labels, value in found if value is not None]

    return samples


def _counter(attr: str) -> Samples:
    def samples(t: Telemetry) -> list[tuple[tuple[str, ...], float]]:
        counter: Counter = getattr(t, attr)
        return sorted(counter.values.items())

    return samples


FAMILIES = (
    Family(
        UPSTREAM_REQUESTS,
        "counter",
        "Requests made to upstream APIs, by endpoint and HTTP status code "
        '(code="error" when no response came back).',
        ("source", "endpoint", "code"),
        _counter("upstream_requests"),
    ),
    Family(
        UPSTREAM_ERRORS,
        "counter",
        "Failed upstream requests, by reason.",
        ("source", "reason"),
        _counter("upstream_errors"),
    ),
    Family(
        UPSTREAM_RATE_LIMITED,
        "counter",
        "Upstream answers of 429 Too Many Requests.",
        ("source",),
        _counter("rate_limited"),
    ),
    Family(
        CAMPAIGNS_SKIPPED,
        "counter",
        "Campaigns passed over, counted on every refresh that passes them over (one "
        "skipped on each refresh adds one each time), by reason: unsupported_type (the API "
        "does not expose this campaign type), max_campaigns (past the cap), retired "
        "(finished longer ago than retention), invalid_id (an id unsafe to request).",
        ("source", "reason"),
        _counter("campaigns_skipped"),
    ),
    Family(
        SOURCE_UP,
        "gauge",
        "1 when the source's last listing walk worked and under half of its reads of the "
        "last poll interval failed, else 0.",
        ("source",),
        _per_source(lambda st: 1.0 if st.up else 0.0),
    ),
    Family(
        SOURCE_LAST_SUCCESS,
        "gauge",
        "Unix time the last listing walk of the source that worked ended.",
        ("source",),
        _per_source(lambda st: st.last_success),
    ),
    Family(
        SOURCE_REFRESH_DURATION,
        "gauge",
        "Wall time of the source's last round, in seconds: a listing walk and every read "
        "due when it landed.",
        ("source",),
        _per_source(lambda st: st.last_duration),
    ),
    Family(
        SOURCE_POLL_INTERVAL,
        "gauge",
        "How often the source is polled in the background, in seconds.",
        ("source", "source_type"),
        lambda t: [((n, st.type_name), st.poll_interval) for n, st in sorted(t.sources.items())],
    ),
    Family(
        SOURCE_REFRESHES,
        "counter",
        "Rounds of the source (a listing walk and every read due when it landed), by "
        "result: success, partial (some campaigns could not be read and keep their last "
        "values) or failure (the walk failed, or half the reads or more).",
        ("source", "result"),
        lambda t: [
            ((n, result), float(count))
            for n, st in sorted(t.sources.items())
            for result, count in st.refreshes.items()
        ],
    ),
    Family(
        SOURCE_CAMPAIGNS,
        "gauge",
        "Campaigns of the source currently exported.",
        ("source",),
        _per_source(lambda st: st.campaigns),
    ),
    Family(
        SOURCE_UNREFRESHED,
        "gauge",
        "Campaigns of the source whose last read failed (a 5xx, a timeout, a 429 past the "
        "pace...); they keep their last values, as old as their "
        "*_last_updated_timestamp_seconds says, and are read again, backing off.",
        ("source",),
        _per_source(lambda st: st.unrefreshed),
    ),
    Family(
        SOURCE_FAILURES,
        "gauge",
        "Listing walks of the source that failed in a row; past the first, the next walk "
        "waits twice as long each time (up to 5 minutes).",
        ("source",),
        _per_source(lambda st: st.consecutive_failures),
    ),
    Family(
        SOURCE_READS,
        "counter",
        "Reads of the source landed (a listing walk, one campaign's state, counts or setup, "
        "one report window), by urgency: active (the listing head; the state of campaigns "
        "running, overdue or about to send), unread (campaigns never read), detail (counts "
        "and setup), settling (finished recently), idle.",
        ("source", "urgency"),
        lambda t: [
            ((n, urgency), float(st.reads.get(urgency, 0)))
            for n, st in sorted(t.sources.items())
            for urgency in URGENCIES
        ],
    ),
    Family(
        SOURCE_READS_DUE,
        "gauge",
        "Reads of the source whose time has come, still waiting for the request budget, by "
        "urgency: above 0 for long, the budget does not cover what is due.",
        ("source", "urgency"),
        lambda t: _waiting(t, 0),
    ),
    Family(
        SOURCE_READS_WAIT,
        "gauge",
        "How long the oldest read of the source waiting for the request budget has waited "
        "past its due time, in seconds, by urgency (0 when none waits).",
        ("source", "urgency"),
        lambda t: _waiting(t, 1),
    ),
    Family(
        SOURCE_RUNNING_AGE,
        "gauge",
        "Seconds since the exporter last read the state of the campaign read longest ago "
        "among those it last saw active (running, sending, overdue), as observed by the "
        "exporter; 0 when none is.",
        ("source",),
        _per_source(lambda st: st.running_age()),
    ),
    Family(
        SOURCE_UNREAD,
        "gauge",
        "Campaigns of the source listed but whose state the exporter has not read yet: how "
        "complete the picture is (readiness does not wait for it).",
        ("source",),
        _per_source(lambda st: st.unread()),
    ),
    Family(
        BUILD_INFO,
        "gauge",
        "Build information of campaign-exporter; value 1.",
        ("version",),
        lambda t: [((__version__,), 1.0)],
    ),
    Family(
        SHARD_INFO,
        "gauge",
        "The share of campaigns this replica polls (--shard of --total-shards); value 1.",
        ("shard", "total_shards"),
        lambda t: [((str(t.shard.index), str(t.shard.total)), 1.0)],
    ),
    Family(
        TOTAL_SHARDS,
        "gauge",
        "How many shards the campaigns are split into (--total-shards), as a value to "
        "compare with the shards scraped (distinct shard labels of shard_info).",
        (),
        lambda t: [((), float(t.shard.total))],
    ),
    Family(
        START_TS,
        "gauge",
        "Unix time this process started. A campaign whose last_updated is older was "
        "restored from --storage.path and not read again yet: the per-campaign alerts wait "
        "for that read.",
        (),
        lambda t: [((), t.started)],
    ),
    Family(
        CONFIG_RELOAD_OK,
        "gauge",
        "1 when the last config (re)load succeeded.",
        (),
        lambda t: [((), 1.0 if t.config_reload_ok else 0.0)],
    ),
    Family(
        CONFIG_RELOAD_TS,
        "gauge",
        "Unix time of the last successful config load.",
        (),
        lambda t: [((), t.config_reload_ts)] if t.config_reload_ts is not None else [],
    ),
    Family(
        CONFIG_INFO,
        "gauge",
        "The config in force: sha256 is the SHA-256 of the config as --config.print shows "
        "it (defaults filled in, secrets left out).",
        ("sha256",),
        lambda t: [((t.config_hash,), 1.0)] if t.config_hash is not None else [],
    ),
    Family(
        STORAGE_WRITABLE,
        "gauge",
        "1 while the books are kept on disk (--storage.path) and the last write worked; 0 "
        "when storage was asked for and cannot be used. Absent without --storage.path.",
        (),
        lambda t: [((), 1.0 if t.storage.writable else 0.0)] if t.storage is not None else [],
    ),
    Family(
        STORAGE_ERRORS,
        "counter",
        "Reads and writes of the books' file that failed.",
        (),
        lambda t: [((), float(t.storage.errors))] if t.storage is not None else [],
    ),
)


def _waiting(t: Telemetry, field_index: int) -> list[tuple[tuple[str, ...], float]]:
    out: list[tuple[tuple[str, ...], float]] = []
    for name, st in sorted(t.sources.items()):
        waiting = st.waiting()
        for urgency in URGENCIES:
            out.append(((name, urgency), float(waiting.get(urgency, (0, 0.0))[field_index])))
    return out


class StorageState(Protocol):
    writable: bool
    errors: int


class Telemetry:
    shard: Shard
    started: float  # Unix time, on the exporter's clock
    config_reload_ok: bool
    config_reload_ts: float | None

    def __init__(
        self,
        shard: Shard | None = None,
        *,
        process_metrics: bool = True,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.upstream_requests = Counter()
        self.upstream_errors = Counter()
        self.rate_limited = Counter()
        self.campaigns_skipped = Counter()
        self.upstream = UpstreamMetrics()  # latency, pace, throttled: kept by the client
        self.sources: dict[str, SourceStatus] = {}
        self.shard = shard or Shard()
        self.clock = clock
        self.started = clock.time()
        self.config_reload_ok = True
        self.config_reload_ts: float | None = None
        self.storage: StorageState | None = None  # with --storage.path
        self.process_metrics = process_metrics
        self.config_reload_attempt: float | None = None
        self.config_reload_error: str | None = None
        self.config_hash: str | None = None  # of the config in force
        # Counter snapshots, oldest first; the first is the newest one at least an hour
        # old (or the zeros at start), so "the last hour" is a subtraction.
        self._tallies: deque[Tally] = deque([Tally(self.started, {})])
        self.publications = 0  # how many times new data reached /metrics
        self._published: list[anyio.Event] = []  # waiters for the next publication

    # -- what the upstream client tells -------------------------------------------------

    def record_request(self, source: str, endpoint: str, code: str) -> None:
        self.upstream_requests.inc((source, endpoint, code))

    def record_error(self, source: str, reason: ErrorReason, count: int = 1) -> None:
        self.upstream_errors.inc((source, reason), count)

    def record_rate_limited(self, source: str) -> None:
        self.rate_limited.inc((source,))

    # -- what the poll loop tells -------------------------------------------------------

    def register(
        self, name: str, type_name: str, poll_interval: float, warnings: tuple[str, ...] = ()
    ) -> None:
        status = self.sources.get(name)
        if status is None or status.type_name != type_name:
            self.sources[name] = status = SourceStatus(
                poll_interval, type_name, registered=self.clock.time()
            )
        status.poll_interval = poll_interval
        status.warnings = warnings
        for reason in ErrorReason:
            self.upstream_errors.values.setdefault((name, reason), 0.0)
        self.rate_limited.values.setdefault((name,), 0.0)

    def forget(self, name: str) -> None:
        """Drop a source removed from the config, with all its series."""
        self.sources.pop(name, None)
        self.upstream.forget(name)
        for counter in (
            self.upstream_requests,
            self.upstream_errors,
            self.rate_limited,
            self.campaigns_skipped,
        ):
            for key in [k for k in counter.values if k[0] == name]:
                del counter.values[key]

    def track_reads(
        self,
        name: str,
        waiting: Callable[[], Mapping[str, tuple[int, float]]],
        running_age: Callable[[], float],
        unread: Callable[[], int],
    ) -> None:
        """What the source's scheduler answers at each scrape."""
        status = self.sources[name]
        status.waiting, status.running_age, status.unread = waiting, running_age, unread

    def record_found(
        self, name: str, errors: Mapping[ErrorReason, int], skipped: Mapping[SkipReason, int]
    ) -> None:
        """What a read found wrong in bodies, and the campaigns it passed over."""
        for reason, count in errors.items():
            if count:
                self.record_error(name, reason, count)
        for skip, count in skipped.items():
            if count:
                self.campaigns_skipped.inc((name, SkipReason(skip)), count)

    def record_read(self, name: str, urgency: str, ok: bool, when: float) -> None:
        """One read landed; ``up`` follows the share of failures over the last interval."""
        status = self.sources[name]
        status.reads[urgency] = status.reads.get(urgency, 0) + 1
        status.recent_reads.append(when)
        if not ok:
            status.recent_failures.append(when)
        since = when - status.poll_interval
        for recent in (status.recent_reads, status.recent_failures):
            while recent and recent[0] < since:
                recent.popleft()
        self._judge(status)

    def record_walk(self, name: str, failure: Exception | None, when: float) -> None:
        """A listing walk landed: the source is up while its walks work."""
        status = self.sources[name]
        status.walk_ok = failure is None
        status.walk_error = None if failure is None else str(failure)
        if failure is None:
            status.consecutive_failures = 0
            status.last_success = when
        else:
            status.consecutive_failures += 1
        self._judge(status)

    def _judge(self, status: SourceStatus) -> None:
        failed, total = len(status.recent_failures), len(status.recent_reads)
        status.up = status.walk_ok and failed * 2 < max(1, total)
        status.last_error = status.walk_error
        if status.last_error is None and not status.up:
            status.last_error = f"{failed} of {total} reads of the last poll interval failed"

    def record_publication(
        self,
        name: str,
        *,
        rows: Sequence[Any],
        campaigns: int,
        walked: bool,
        error: str | None = None,
    ) -> None:
        """What the source's books hold reached /metrics. Ready once a walk's result did,
        even a failed one: an exporter that stays unready drops out of service discovery,
        and with it the source_up 0 alert."""
        status = self.sources[name]
        status.campaigns = campaigns
        status.show(rows)
        status.ready = status.ready or walked
        if error is not None:
            status.last_error = error
        self._note(self.clock.time())
        self._publication()

    def record_refresh(
        self,
        name: str,
        report: RefreshReport,
        *,
        started: float,
        duration: float,
        error: str | None,
        rows: Sequence[Any],
    ) -> None:
        """One round ended and its data is published; ``error`` when it failed."""
        status = self.sources[name]
        for reason, count in report.errors.items():
            self.record_error(name, reason, count)
        for skip, count in report.skipped.items():
            if count:
                self.campaigns_skipped.inc((name, SkipReason(skip)), count)
        status.last_attempt = started
        status.last_duration = duration
        status.campaigns = report.campaigns
        status.show(rows)
        # Campaigns left with older values make a round partial: the source is up, but
        # not everything on /metrics is as fresh as the round.
        ok = error is None
        result = "failure" if not ok else "partial" if report.failed else "success"
        status.refreshes[result] += 1
        status.ready = True
        if not ok:
            status.last_error = error
        self._note(self.clock.time())
        self._publication()

    # -- publications, for whoever waits on what /metrics shows ----------------------------

    def _publication(self) -> None:
        self.publications += 1
        waiters, self._published = self._published, []
        for waiter in waiters:
            waiter.set()

    async def published(self, after: int) -> int:
        """Wait until there have been more than ``after`` publications; their count now.
        (A cheap wait for tests and tools: no scrape, no parse.)"""
        while self.publications <= after:
            waiter = anyio.Event()
            self._published.append(waiter)
            await waiter.wait()
        return self.publications

    # -- what the reloader tells ----------------------------------------------------------

    def record_reload(
        self, ok: bool, when: float, error: str | None = None, digest: str | None = None
    ) -> None:
        self.config_reload_ok = ok
        self.config_reload_attempt = when
        self.config_reload_error = None if ok else error
        if ok:
            self.config_reload_ts = when
            self.config_hash = digest

    # -- recent trouble, for the status page ------------------------------------------------

    def _trouble_now(self) -> dict[str, Trouble]:
        errors: defaultdict[str, float] = defaultdict(float)
        for (name, reason), count in self.upstream_errors.values.items():
            if reason not in NOT_TROUBLE:
                errors[name] += count
        return {
            name: Trouble(
                int(self.rate_limited.get((name,))),
                int(errors[name]),
                st.refreshes["failure"],
            )
            for name, st in self.sources.items()
        }

    def _note(self, now: float) -> None:
        if now - self._tallies[-1].at >= TALLY_SPACING:
            self._tallies.append(Tally(now, self._trouble_now()))
        while len(self._tallies) > 1 and self._tallies[1].at <= now - RECENT_WINDOW:
            self._tallies.popleft()

    def recent(self) -> Recent:
        """429s, upstream errors and failed refreshes of each source over the last hour
        (to the minute), or since start when the process is younger than that."""
        now = self.clock.time()
        self._note(now)
        base = self._tallies[0]
        current = self._trouble_now()
        return Recent(
            seconds=max(0.0, now - base.at),
            since_start=base.at == self.started,
            by_source={n: t - base.counts.get(n, Trouble()) for n, t in current.items()},
        )

    def backlogs(self) -> dict[str, Backlog]:
        """Each source's backlog, for the status page: taken on the event loop, since the
        scheduler's answers walk its queue."""
        return {
            name: Backlog(dict(st.waiting()), st.running_age(), st.unread())
            for name, st in self.sources.items()
        }

    @property
    def ready(self) -> bool:
        """Every source has published something true, or has run two poll intervals."""
        return bool(self.sources) and not self.waiting_for()

    def waiting_for(self) -> list[str]:
        """The sources readiness waits for."""
        now = self.clock.time()
        return sorted(
            name
            for name, st in self.sources.items()
            if not st.ready and now - st.registered < 2 * st.poll_interval
        )

    def families(self) -> list[MetricFamily]:
        """The exporter's own families (the upstream client's latency, pace and throttled
        series among them), then (unless left out) this process's CPU, memory, descriptors
        and garbage collector."""
        out = []
        for spec in FAMILIES:
            fam = MetricFamily(spec.name, spec.kind, spec.help, spec.labels)
            fam.samples.extend(spec.samples(self))
            out.append(fam)
        out += self.upstream.families()
        return out + process_families() if self.process_metrics else out


def _from_client(metric: Metric) -> MetricFamily | None:
    if metric.type not in ("gauge", "counter") or not metric.samples:
        return None
    name = metric.samples[0].name if metric.type == "counter" else metric.name
    label_names = tuple(metric.samples[0].labels)
    fam = MetricFamily(name, metric.type, metric.documentation, label_names)  # type: ignore[arg-type]
    for sample in metric.samples:
        if sample.name == name:
            fam.add(tuple(sample.labels[k] for k in label_names), sample.value)
    return fam


def process_families(collectors: Sequence[str] = ("process_", "python_gc_")) -> list[MetricFamily]:
    """CPU, memory and file descriptors of this process, from prometheus_client's collectors."""
    out = []
    for metric in REGISTRY.collect():
        if metric.name.startswith(tuple(collectors)):
            fam = _from_client(metric)
            if fam is not None:
                out.append(fam)
    return out
