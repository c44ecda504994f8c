"""GreenArrow Studio's system-campaigns API (v2) as a source (``type: greenarrow``)."""

from __future__ import annotations

from ..base import SourceKind
from .config import GreenArrowConfig
from .source import GreenArrowSource

KIND: SourceKind[GreenArrowConfig] = SourceKind("greenarrow", GreenArrowConfig, GreenArrowSource)

__all__ = ["KIND", "GreenArrowConfig", "GreenArrowSource"]
