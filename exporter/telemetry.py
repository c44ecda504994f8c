"""The exporter's own health: per-source status and counters of upstream traffic.

Rendered on every scrape (a few dozen samples), so counters move during a long refresh.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from . import __version__
from .exposition import MetricFamily
from .shard import Shard
from .upstream_metrics import UpstreamMetrics

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
SOURCE_FAILURES = "campaign_exporter_source_consecutive_failures"
BUILD_INFO = "campaign_exporter_build_info"
SHARD_INFO = "campaign_exporter_shard_info"
CONFIG_RELOAD_OK = "campaign_exporter_config_last_reload_successful"
CONFIG_RELOAD_TS = "campaign_exporter_config_last_reload_success_timestamp_seconds"

ERROR_REASONS = (
    "timeout",
    "connect",
    "http_5xx",
    "http_4xx",
    "rate_limited",
    "auth",
    "malformed",
    "not_found",
    "unsupported",
    "too_large",
    "redirect",
)


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
    """What the poll loop knows of one source's refreshes."""

    poll_interval: float
    type_name: str
    up: bool = False
    ready: bool = False
    last_success: float | None = None
    last_attempt: float | None = None
    last_duration: float | None = None
    last_error: str | None = None
    consecutive_failures: int = 0
    rows: list[Any] = field(default_factory=list)  # sources.CampaignRow, for the status page

    @property
    def campaigns(self) -> int:
        """Campaigns exported: one status-page row each."""
        return len(self.rows)

    refreshes: dict[str, int] = field(default_factory=lambda: {"success": 0, "failure": 0})


class Telemetry:
    def __init__(self) -> None:
        self.upstream_requests = Counter()
        self.upstream_errors = Counter()
        self.rate_limited = Counter()
        self.campaigns_skipped = Counter()
        self.upstream = UpstreamMetrics()  # latency, pace, throttled: kept by the client
        self.sources: dict[str, SourceStatus] = {}
        self.shard = Shard()
        self.config_reload_ok = True
        self.config_reload_ts: float | None = None

    def register(self, name: str, type_name: str, poll_interval: float) -> SourceStatus:
        status = self.sources.get(name)
        if status is None or status.type_name != type_name:
            status = SourceStatus(poll_interval=poll_interval, type_name=type_name)
            self.sources[name] = status
        status.poll_interval = poll_interval
        for reason in ERROR_REASONS:
            self.upstream_errors.values.setdefault((name, reason), 0.0)
        self.rate_limited.values.setdefault((name,), 0.0)
        return status

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

    def record_refresh(
        self, name: str, ok: bool, started: float, duration: float, error: str | None
    ) -> None:
        status = self.sources[name]
        status.last_attempt = started
        status.last_duration = duration
        status.up = ok
        status.refreshes["success" if ok else "failure"] += 1
        # Ready after the first refresh ends, even a failed one: an exporter that stays
        # unready drops out of service discovery, and with it the source_up 0 alert.
        status.ready = True
        if ok:
            status.last_success = started + duration
            status.last_error = None
        else:
            status.last_error = error

    @property
    def ready(self) -> bool:
        return bool(self.sources) and all(s.ready for s in self.sources.values())

    def families(self) -> list[MetricFamily]:
        fams = [
            _counter_family(
                UPSTREAM_REQUESTS,
                "Requests made to upstream APIs, by endpoint and HTTP status code "
                '(code="error" when no response came back).',
                ("source", "endpoint", "code"),
                self.upstream_requests,
            ),
            _counter_family(
                UPSTREAM_ERRORS,
                "Failed upstream requests, by reason.",
                ("source", "reason"),
                self.upstream_errors,
            ),
            _counter_family(
                UPSTREAM_RATE_LIMITED,
                "Upstream answers of 429 Too Many Requests.",
                ("source",),
                self.rate_limited,
            ),
            _counter_family(
                CAMPAIGNS_SKIPPED,
                "Campaigns passed over in a refresh, by reason: unsupported_type (the API "
                "does not expose this campaign type), max_campaigns (past the cap), retired "
                "(finished longer ago than retention), invalid_id (an id unsafe to request).",
                ("source", "reason"),
                self.campaigns_skipped,
            ),
        ]
        up = MetricFamily(
            SOURCE_UP,
            "gauge",
            "1 when the last refresh of the source succeeded, 0 when it failed.",
            ("source",),
        )
        last = MetricFamily(
            SOURCE_LAST_SUCCESS,
            "gauge",
            "Unix time the last successful refresh of the source ended.",
            ("source",),
        )
        duration = MetricFamily(
            SOURCE_REFRESH_DURATION,
            "gauge",
            "Wall time of the last refresh of the source, in seconds.",
            ("source",),
        )
        interval = MetricFamily(
            SOURCE_POLL_INTERVAL,
            "gauge",
            "How often the source is polled in the background, in seconds.",
            ("source", "type"),
        )
        refreshes = MetricFamily(
            SOURCE_REFRESHES,
            "counter",
            "Refreshes of the source, by result (success or failure).",
            ("source", "result"),
        )
        campaigns = MetricFamily(
            SOURCE_CAMPAIGNS,
            "gauge",
            "Campaigns of the source currently exported.",
            ("source",),
        )
        failures = MetricFamily(
            SOURCE_FAILURES,
            "gauge",
            "Refreshes of the source that failed in a row; past the first, the next "
            "refresh waits twice as long each time (up to 5 minutes).",
            ("source",),
        )
        for name, st in sorted(self.sources.items()):
            up.add((name,), 1.0 if st.up else 0.0)
            if st.last_success is not None:
                last.add((name,), st.last_success)
            if st.last_duration is not None:
                duration.add((name,), st.last_duration)
            interval.add((name, st.type_name), st.poll_interval)
            for result, count in st.refreshes.items():
                refreshes.add((name, result), count)
            campaigns.add((name,), st.campaigns)
            failures.add((name,), st.consecutive_failures)
        build = MetricFamily(
            BUILD_INFO,
            "gauge",
            "Build information of campaign-exporter; value 1.",
            ("version",),
        )
        build.add((__version__,), 1.0)
        shard = MetricFamily(
            SHARD_INFO,
            "gauge",
            "The share of campaigns this replica polls (--shard of --total-shards); value 1.",
            ("shard", "total_shards"),
        )
        shard.add((str(self.shard.index), str(self.shard.total)), 1.0)
        reload_ok = MetricFamily(
            CONFIG_RELOAD_OK, "gauge", "1 when the last config (re)load succeeded.", ()
        )
        reload_ok.add((), 1.0 if self.config_reload_ok else 0.0)
        reload_ts = MetricFamily(
            CONFIG_RELOAD_TS, "gauge", "Unix time of the last successful config load.", ()
        )
        if self.config_reload_ts is not None:
            reload_ts.add((), self.config_reload_ts)
        return [
            *fams,
            *self.upstream.families(),
            up,
            last,
            duration,
            interval,
            refreshes,
            campaigns,
            failures,
            build,
            shard,
            reload_ok,
            reload_ts,
        ]


def _counter_family(
    name: str, help_text: str, label_names: tuple[str, ...], counter: Counter
) -> MetricFamily:
    fam = MetricFamily(name, "counter", help_text, label_names)
    for labels, value in sorted(counter.values.items()):
        fam.add(labels, value)
    return fam
