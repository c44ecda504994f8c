"""The self-metrics table: each of the exporter's own families, its name, type, help and
labels, and how its samples are read off telemetry (``TelemetryView``: what the table
reads, which ``Telemetry`` has)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from .. import __version__
from ..books.shard import Shard
from ..exposition.render import Kind
from .counters import Counter
from .status import SourceStatus, StorageState

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
URGENCIES = ("active", "unread", "detail", "settling", "idle")  # reads.Urgency, in order
BUILD_INFO = "campaign_exporter_build_info"
SHARD_INFO = "campaign_exporter_shard_info"
TOTAL_SHARDS = "campaign_exporter_total_shards"
CONFIG_RELOAD_OK = "campaign_exporter_config_last_reload_successful"
CONFIG_RELOAD_TS = "campaign_exporter_config_last_reload_success_timestamp_seconds"
CONFIG_INFO = "campaign_exporter_config_info"
STORAGE_WRITABLE = "campaign_exporter_storage_writable"
STORAGE_ERRORS = "campaign_exporter_storage_errors_total"
START_TS = "campaign_exporter_start_timestamp_seconds"


class TelemetryView(Protocol):
    """What the table reads off telemetry."""

    sources: dict[str, SourceStatus]
    shard: Shard
    started: float
    config_reload_ok: bool
    config_reload_ts: float | None
    config_hash: str | None
    storage: StorageState | None
    upstream_requests: Counter
    upstream_errors: Counter
    rate_limited: Counter
    campaigns_skipped: Counter


Samples = Callable[[TelemetryView], list[tuple[tuple[str, ...], float]]]


@dataclass(frozen=True)
class Family:
    """One family of the exporter's own metrics: how to read its samples off telemetry."""

    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...]
    samples: Samples


def _per_source(read: Callable[[SourceStatus], float | None]) -> Samples:
    def samples(t: TelemetryView) -> list[tuple[tuple[str, ...], float]]:
        found = [((name,), read(st)) for name, st in sorted(t.sources.items())]
        return [(labels, value) for labels, value in found if value is not None]

    return samples


def _counter(attr: str) -> Samples:
    def samples(t: TelemetryView) -> list[tuple[tuple[str, ...], float]]:
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


def _waiting(t: TelemetryView, field_index: int) -> list[tuple[tuple[str, ...], float]]:
    out: list[tuple[tuple[str, ...], float]] = []
    for name, st in sorted(t.sources.items()):
        waiting = st.waiting()
        for urgency in URGENCIES:
            out.append(((name, urgency), float(waiting.get(urgency, (0, 0.0))[field_index])))
    return out
