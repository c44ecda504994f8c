"""Registry of source types: a new upstream system is one module plus one line here."""

from __future__ import annotations

from typing import Any

from . import experiture, greenarrow
from .base import Attention, CampaignRow, Display, Source, SourceError, SourceKind

SOURCE_KINDS: dict[str, SourceKind[Any]] = {
    kind.type_name: kind for kind in (experiture.KIND, greenarrow.KIND)
}

__all__ = [
    "SOURCE_KINDS",
    "Attention",
    "CampaignRow",
    "Display",
    "Source",
    "SourceError",
    "SourceKind",
]
