"""Experiture's public v1 Campaigns API as a source (``type: experiture``)."""

from __future__ import annotations

from ..base import Display, SourceKind
from .config import ExperitureConfig
from .errors import CORRELATION_HEADERS, error_fields
from .model import UNSUPPORTED_CODES
from .source import ExperitureSource

KIND: SourceKind[ExperitureConfig] = SourceKind(
    "experiture",
    ExperitureConfig,
    ExperitureSource,
    display=Display(
        progress="sent / scheduled",
        ratio="failed / scheduled",
        ratio_min=100,  # as CampaignHighFailureRatio
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
        overdue_after=900.0,  # as CampaignSendOverdue
        stall_after=900.0,  # as CampaignStalled
    ),
    error_fields=error_fields,
    correlation_headers=CORRELATION_HEADERS,
    unsupported_codes=UNSUPPORTED_CODES,
)

__all__ = ["KIND", "ExperitureConfig", "ExperitureSource"]
