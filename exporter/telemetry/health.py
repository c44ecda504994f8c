"""The exporter's own health: ``Telemetry``, the single owner of that state. The poll loop,
the upstream client and the reloader tell it what happened (``record_*``), nobody assigns
to it. Rendered on every scrape (a few dozen samples), so counters move during a long
refresh.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import anyio

from ..books.reads import RefreshReport
from ..books.reasons import ErrorReason, SkipReason
from ..books.shard import Shard
from ..clock import SYSTEM_CLOCK, Clock
from ..exposition.render import MetricFamily
from .counters import Counter
from .families import FAMILIES
from .process import process_families
from .recent import Recent, Trouble, TroubleWindow, trouble_now
from .status import Backlog, SourceStatus, StorageState
from .upstream import UpstreamMetrics


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
        self._window = TroubleWindow(self.started)  # the status page's recent trouble
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
        self.sources[name].read_landed(urgency, ok, when)

    def record_walk(self, name: str, failure: Exception | None, when: float) -> int:
        """A listing walk landed: the source is up while its walks work, and its failure
        streak (``SourceStatus.consecutive_failures``) moves; the streak now."""
        return self.sources[name].walk_landed(failure, when)

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
        return trouble_now(self.upstream_errors, self.rate_limited, self.sources)

    def _note(self, now: float) -> None:
        self._window.note(now, self._trouble_now)

    def recent(self) -> Recent:
        """429s, upstream errors and failed refreshes of each source over the last hour
        (to the minute), or since start when the process is younger than that."""
        return self._window.recent(self.clock.time(), self._trouble_now)

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
