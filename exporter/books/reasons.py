"""Why an upstream call failed, and why a campaign was passed over: one enum each, shared
by the upstream client, the ledger and telemetry (each value is a label value)."""

from __future__ import annotations

from enum import StrEnum


class ErrorReason(StrEnum):
    TIMEOUT = "timeout"
    CONNECT = "connect"
    HTTP_5XX = "http_5xx"
    HTTP_4XX = "http_4xx"
    RATE_LIMITED = "rate_limited"
    AUTH = "auth"
    MALFORMED = "malformed"
    NOT_FOUND = "not_found"
    UNSUPPORTED = "unsupported"
    TOO_LARGE = "too_large"
    REDIRECT = "redirect"
    TLS = "tls"  # a certificate or handshake problem: not retried, it does not pass


class SkipReason(StrEnum):
    UNSUPPORTED_TYPE = "unsupported_type"  # the API does not expose this campaign's type
    MAX_CAMPAIGNS = "max_campaigns"  # past the source's cap
    RETIRED = "retired"  # finished longer ago than retention
    INVALID_ID = "invalid_id"  # an id unsafe to put in a request path or a label
