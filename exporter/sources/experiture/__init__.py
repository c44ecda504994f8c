"""Experiture's public v1 Campaigns API as a source (``type: experiture``)."""

from __future__ import annotations

from ..base import SourceKind
from .config import ExperitureConfig
from .source import ExperitureSource

KIND: SourceKind[ExperitureConfig] = SourceKind("experiture", ExperitureConfig, ExperitureSource)

__all__ = ["KIND", "ExperitureConfig", "ExperitureSource"]
