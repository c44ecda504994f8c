"""The latest rendered families of every source, assembled into cached exposition bytes.

Sources publish after each refresh; scrapes read the cached bytes and add only the
exporter's own small, always-fresh families. A scrape may ask for some families only
(``name[]``); each such selection is cached too, until the next publish.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from .exposition import GzipPrefix, RenderedFamily, assemble, pre_render, selected
from .telemetry import Telemetry

GZIP_LEVEL = 1  # the scrape path favours speed; level 1 is still ~8x on this text
# Selections cached per publish: at most this many, together at most as large as the
# whole text body (or 1 MiB), so that clients asking for ever new selections cost a
# bounded amount of memory; the oldest goes first, and one larger alone is not kept.
MAX_SELECTIONS = 16
MIN_SELECTION_BUDGET = 1 << 20

Names = frozenset[str] | None  # the family names a scrape asked for; None: all
Key = tuple[bool, Names]  # (OpenMetrics, names)


@dataclass(frozen=True)
class Variant:
    """The cached body of one format, plain and (once asked for) gzipped."""

    body: bytes
    gzip: GzipPrefix | None = None

    @property
    def size(self) -> int:
        return len(self.body) + (len(self.gzip.data) if self.gzip else 0)


class ExpositionStore:
    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry
        self._parts: dict[str, list[RenderedFamily]] = {}
        self._variants: dict[Key, Variant] = {}
        self._lock = threading.Lock()

    def publish(self, source: str, rendered: list[RenderedFamily]) -> None:
        """Replace one source's families; callable from a worker thread."""
        with self._lock:
            self._parts[source] = rendered
            self._variants = {(False, None): Variant(assemble(self._selection(None), False))}

    def remove(self, source: str) -> None:
        with self._lock:
            self._parts.pop(source, None)
            self._variants = {(False, None): Variant(assemble(self._selection(None), False))}

    def cached(self, openmetrics: bool, gzip: bool, names: Names = None) -> Variant | None:
        """The body for a format (and selection) if it is built already: the fast path of
        a scrape."""
        current = self._variants.get((openmetrics, names))
        if current is not None and (current.gzip is not None or not gzip):
            return current
        return None

    def build(self, openmetrics: bool, gzip: bool, names: Names = None) -> Variant:
        """Build a body once per publish; slow, so call it off the event loop."""
        with self._lock:
            variants = self._variants
            key = (openmetrics, names)
            current = variants.get(key)
            if current is None:
                current = Variant(assemble(self._selection(names), openmetrics))
            if gzip and current.gzip is None:
                current = Variant(current.body, GzipPrefix.of(current.body, GZIP_LEVEL))
            self._variants = _bounded(variants, key, current)
            return current

    def dynamic(self, openmetrics: bool, names: Names = None) -> bytes:
        """The exporter's own families, rendered fresh for each scrape."""
        fams = self.telemetry.families()
        if names is not None:
            fams = [f for f in fams if selected(f.name, f.kind, names)]
        return assemble([pre_render(fams)], openmetrics) + (b"# EOF\n" if openmetrics else b"")

    def _selection(self, names: Names) -> list[list[RenderedFamily]]:
        parts = list(self._parts.values())
        if names is None:
            return parts
        return [[f for f in part if selected(f.name, f.kind, names)] for part in parts]


def _bounded(variants: dict[Key, Variant], key: Key, new: Variant) -> dict[Key, Variant]:
    """``variants`` with ``new`` at ``key``, within the bounds on cached selections."""
    if key[1] is None:
        return {**variants, key: new}
    whole = variants.get((False, None))
    budget = max(len(whole.body) if whole else 0, MIN_SELECTION_BUDGET)
    if new.size > budget:
        return variants
    kept = {k: v for k, v in variants.items() if k != key}
    chosen = [k for k in kept if k[1] is not None]
    used = sum(kept[k].size for k in chosen) + new.size
    while chosen and (len(chosen) >= MAX_SELECTIONS or used > budget):
        used -= kept.pop(chosen.pop(0)).size
    return {**kept, key: new}
