"""GreenArrow Studio's system-campaigns API (v2) as a source (``type: greenarrow``)."""

from __future__ import annotations

from ...config.thresholds import Thresholds
from ..base import Attention, Display, SourceKind
from .config import GreenArrowConfig
from .errors import CORRELATION_HEADERS, error_fields
from .source import GreenArrowSource


def attention(thresholds: Thresholds) -> Attention:
    """As GreenArrowHighBounceRate."""
    return Attention(
        ratio_warn=thresholds.bounce_rate, ratio_min=thresholds.bounce_rate_min_messages
    )


KIND: SourceKind[GreenArrowConfig] = SourceKind(
    "greenarrow",
    GreenArrowConfig,
    GreenArrowSource,
    display=Display(
        progress="sent / recipients",
        ratio="bounced / sent",
        state_rank={"sending": 0, "failed": 2, "cancelled": 5, "finished": 6},
        tones={"sending": "active", "failed": "bad", "cancelled": "bad", "finished": "done"},
        failed_states=frozenset({"failed"}),
        attention=attention,
    ),
    error_fields=error_fields,
    correlation_headers=CORRELATION_HEADERS,
)

__all__ = ["KIND", "GreenArrowConfig", "GreenArrowSource"]
