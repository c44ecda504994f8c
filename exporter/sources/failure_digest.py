"""A source's failed upstream calls in its log: one line per (reason, endpoint), the first
of a kind at once, then how many more at most once a poll interval, so a vendor that fails
every call does not flood the log.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from ..upstream.failures import UpstreamError

# The upstream client's logger: these lines are about its calls, and operators filter
# on it.
log = logging.getLogger("campaign_exporter.upstream")


class FailureDigest:
    """Failed requests of one source, logged as one line per (reason, endpoint): the first
    of a kind at once, then how many more at most once an interval."""

    def __init__(self, source: str, interval: float = 0.0) -> None:
        self.source = source
        self.interval = interval
        self.seen: dict[tuple[str, str], tuple[int, UpstreamError]] = {}
        self.logged: set[tuple[str, str]] = set()  # kinds whose first failure was logged
        self.next_log = -float("inf")

    def add(self, exc: UpstreamError) -> None:
        key = (exc.reason, exc.endpoint)
        count, first = self.seen.get(key, (0, exc))
        self.seen[key] = (count + 1, first)

    def log_due(self, now: float) -> None:
        """Log what is new, and the counts once the interval has passed."""
        new = {k: v for k, v in self.seen.items() if k not in self.logged}
        if now >= self.next_log:
            self.next_log = now + self.interval
            new = self.seen
            self.logged = set(self.seen)
            self.seen = {}
        elif new:
            self.logged |= set(new)
            for key in new:
                del self.seen[key]
        self._log(new)

    def log(self) -> None:
        self._log(self.seen)
        self.seen = {}

    def _log(self, seen: Mapping[tuple[str, str], tuple[int, UpstreamError]]) -> None:
        for (reason, endpoint), (count, first) in sorted(seen.items()):
            log.warning(
                "upstream requests failed",
                extra={
                    "kv": {
                        "source": self.source,
                        "endpoint": endpoint,
                        "reason": reason,
                        "count": count,
                        "status": first.status,
                        "error_code": first.error_code,
                        "correlation_id": first.correlation_id,
                        "detail": first.detail,
                    }
                },
            )
