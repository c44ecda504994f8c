"""What the hostile-upstream tests share, in this process and as a real one: both sources on
short timeouts against the simulator, and the counters a scrape reads back."""

from __future__ import annotations

from typing import Any

from .helpers import Samples, experiture_source, ga_source

ERRORS = "campaign_exporter_upstream_errors_total"
REQUESTS = "campaign_exporter_upstream_requests_total"
# What the waits on counters read: the counters, and every campaign still there
COUNTED = [
    ERRORS,
    REQUESTS,
    "campaign_exporter_source_up",
    "experiture_campaign_info",
    "greenarrow_campaign_info",
]


def sources(url: str, **exp: Any) -> list[dict[str, Any]]:
    fast = {"poll_interval": "500ms", "timeout": "500ms", "max_response_size": "1MiB"}
    return [
        experiture_source(
            url, name="exp", polling={"adaptive": False}, summary_interval="100ms", **fast, **exp
        ),
        ga_source(url, per_page=10, **fast),
    ]


def errors(s: Samples, source: str, reason: str) -> float:
    return s.value(ERRORS, source=source, reason=reason) or 0.0


def campaigns(s: Samples) -> tuple[int, int]:
    return (
        len(s.by_campaign("experiture_campaign_info")),
        len(s.by_campaign("greenarrow_campaign_info")),
    )
