"""The latest rendered families of every source, assembled into cached exposition bytes.

Sources publish after each refresh; scrapes read the cached bytes and add only the
exporter's own small, always-fresh families.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from .exposition import GzipPrefix, RenderedFamily, assemble, pre_render
from .telemetry import Telemetry

GZIP_LEVEL = 1  # the scrape path favours speed; level 1 is still ~8x on this text


@dataclass(frozen=True)
class Variant:
    """The cached body of one format, plain and (once asked for) gzipped."""

    body: bytes
    gzip: GzipPrefix | None = None


class ExpositionStore:
    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry
        self._parts: dict[str, list[RenderedFamily]] = {}
        self._variants: dict[bool, Variant] = {}
        self._lock = threading.Lock()

    def publish(self, source: str, rendered: list[RenderedFamily]) -> None:
        """Replace one source's families; callable from a worker thread."""
        with self._lock:
            self._parts[source] = rendered
            self._variants = {False: Variant(assemble(list(self._parts.values()), False))}

    def remove(self, source: str) -> None:
        with self._lock:
            self._parts.pop(source, None)
            self._variants = {False: Variant(assemble(list(self._parts.values()), False))}

    def cached(self, openmetrics: bool, gzip: bool) -> Variant | None:
        """The body for a format if it is built already: the fast path of a scrape."""
        current = self._variants.get(openmetrics)
        if current is not None and (current.gzip is not None or not gzip):
            return current
        return None

    def build(self, openmetrics: bool, gzip: bool) -> Variant:
        """Build a format's body once per publish; slow, so call it off the event loop."""
        with self._lock:
            variants = self._variants
            current = variants.get(openmetrics)
            if current is None:
                current = Variant(assemble(list(self._parts.values()), openmetrics))
            if gzip and current.gzip is None:
                current = Variant(current.body, GzipPrefix.of(current.body, GZIP_LEVEL))
            self._variants = {**variants, openmetrics: current}
            return current

    def dynamic(self, openmetrics: bool) -> bytes:
        """The exporter's own families, rendered fresh for each scrape."""
        fams = self.telemetry.families()
        return assemble([pre_render(fams)], openmetrics) + (b"# EOF\n" if openmetrics else b"")
