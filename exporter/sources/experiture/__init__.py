"""Experiture's public v1 Campaigns API as a source (``type: experiture``)."""

from __future__ import annotations

from ...config.thresholds import Thresholds
from ..base import Attention, Display, SourceKind
from .config import ExperitureConfig
from .errors import CORRELATION_HEADERS, error_fields
from .model import UNSUPPORTED_CODES
from .source import ExperitureSource


def attention(thresholds: Thresholds) -> Attention:
    """As CampaignHighFailureRatio, CampaignSendOverdue and CampaignStalled."""
    return Attention(
        ratio_warn=thresholds.failure_ratio,
        ratio_min=thresholds.failure_ratio_min_records,
        ratio_within=thresholds.failure_ratio_completed_within,
        overdue_after=thresholds.send_overdue_after,
        stall_after=thresholds.stalled_after,
    )


KIND: SourceKind[ExperitureConfig] = SourceKind(
    "experiture",
    ExperitureConfig,
    ExperitureSource,
    display=Display(
        progress="sent / scheduled",
        ratio="failed / scheduled",
        state_rank={
            "running": 0,
            "pending_or_overdue": 1,
            "failed": 2,
            "scheduled": 4,
            "completed": 6,
            "not_scheduled": 7,
        },
        tones={
            "running": "active",
            "failed": "bad",
            "pending_or_overdue": "late",
            "completed": "done",
        },
        failed_states=frozenset({"failed"}),
        overdue_states=frozenset({"pending_or_overdue"}),
        attention=attention,
    ),
    error_fields=error_fields,
    correlation_headers=CORRELATION_HEADERS,
    unsupported_codes=UNSUPPORTED_CODES,
)

__all__ = ["KIND", "ExperitureConfig", "ExperitureSource"]
