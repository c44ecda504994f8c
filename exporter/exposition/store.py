"""The latest rendered families of every source, assembled into cached exposition bytes.

Sources publish what changed: each campaign's lines are a fragment of their own, so a
publication costs what changed, not the fleet. A whole body is assembled lazily, by the
first scrape after a publication (off the event loop), and cached; scrapes add only the
exporter's own small, always-fresh families. A scrape may ask for some families only
(``name[]``); each such selection is cached too, until the next publication.

A body is assembled from chunks, one per family (every source's lines, the same in both
formats, with its header per format apart), each kept until a fragment of its family
changes. A family's lines are kept in segments of about ``BLOCK`` bytes, each gzipped on
its own: after a publication in which only read times moved, a scrape joins what it has
and compresses again the few segments whose lines changed.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from .render import (
    GzipPieces,
    Kind,
    MetricFamily,
    Piece,
    RenderedFamily,
    assemble,
    pre_render,
    render_header,
    selected,
)

GZIP_LEVEL = 1  # the scrape path favours speed; level 1 is still ~8x on this text
# A family's lines are kept in segments of about this many bytes, each gzipped on its own;
# after a publication only the segments whose lines changed are compressed again. A line
# that changes leaves its segment for the last one: on a settled account the lines that
# keep changing (the read times of running campaigns) gather in the last segments, and
# the lines read in turn, oldest first (idle campaigns), leave the first ones.
BLOCK = 1 << 16
# Selections cached per publish: at most this many, together at most as large as the
# whole text body (or 1 MiB), so that clients asking for ever new selections cost a
# bounded amount of memory; the oldest goes first, and one larger alone is not kept.
MAX_SELECTIONS = 16
MIN_SELECTION_BUDGET = 1 << 20

Names = frozenset[str] | None  # the family names a scrape asked for; None: all
Key = tuple[bool, Names]  # (OpenMetrics, names)


@dataclass(frozen=True)
class Variant:
    """The cached body of one format: plain, as its families' chunks (sent one after the
    other, never joined), and gzipped, each once asked for."""

    chunks: tuple[bytes, ...] | None = None
    gzip: GzipPieces | None = None

    @property
    def body(self) -> bytes:
        """The plain body in one piece (for tests and tools: scrapes send the chunks)."""
        assert self.chunks is not None, "built for gzip only"
        return b"".join(self.chunks)

    def has(self, gzip: bool) -> bool:
        return (self.gzip if gzip else self.chunks) is not None

    @property
    def size(self) -> int:
        plain = sum(map(len, self.chunks)) if self.chunks is not None else 0
        return plain + (self.gzip.length if self.gzip else 0)


@dataclass(eq=False)
class Segment:
    """Consecutive lines of one family in one source, about ``BLOCK`` bytes at most:
    gzipped when first asked for, and kept so until one of its lines changes (no piece:
    changed since). Its lines are not kept joined: a chunk joins every segment's at once,
    and one copy of the text is enough."""

    lines: dict[str, bytes] = field(default_factory=dict)  # campaign id -> its lines
    size: int = 0
    piece: Piece | None = None

    def gzipped(self) -> Piece:
        if self.piece is None:
            self.piece = Piece.of(b"".join(self.lines.values()), GZIP_LEVEL)
        return self.piece

    def put(self, cid: str, body: bytes) -> None:
        self.lines[cid] = body
        self.size += len(body)
        self.piece = None

    def take(self, cid: str) -> None:
        self.size -= len(self.lines.pop(cid))
        self.piece = None


class Lines:
    """One family's lines in one source, in segments, in order. A line that changes
    leaves its segment for the last one (a new one once the last is full)."""

    def __init__(self, block: int) -> None:
        self.block = block
        self.segments: list[Segment] = []
        self.where: dict[str, Segment] = {}  # campaign id -> the segment holding its lines

    @property
    def size(self) -> int:
        return sum(segment.size for segment in self.segments)

    def get(self, cid: str) -> bytes:
        segment = self.where.get(cid)
        return segment.lines[cid] if segment is not None else b""

    def set(self, cid: str, body: bytes) -> None:
        """One campaign's lines (empty: none), at the end; a caller checks they changed."""
        segment = self.where.pop(cid, None)
        if segment is not None:
            segment.take(cid)
            if not segment.lines:
                self.segments.remove(segment)
        if body:
            last = self.segments[-1] if self.segments else None
            if last is None or last.size >= self.block:
                last = Segment()
                self.segments.append(last)
            last.put(cid, body)
            self.where[cid] = last

    def compact(self) -> list[Segment]:
        """The segments, after merging neighbours that fit in one block together where one
        of them changed, or was never gzipped (so lines leaving one by one do not fragment
        the family; segments gzipped and unchanged keep their piece)."""
        merged: list[Segment] = []
        for segment in self.segments:
            before = merged[-1] if merged else None
            if (
                before is not None
                and (before.piece is None or segment.piece is None)
                and before.size + segment.size <= self.block
            ):
                for cid, body in segment.lines.items():
                    before.put(cid, body)
                    self.where[cid] = before
            else:
                merged.append(segment)
        self.segments = merged
        return merged


@dataclass
class SourceParts:
    """One source's families: per family, each campaign's sample lines and the totals'."""

    block: int
    headers: dict[str, tuple[Kind, str]] = field(default_factory=dict)  # in first-seen order
    campaigns: dict[str, Lines] = field(default_factory=dict)  # family -> its lines
    totals: dict[str, bytes] = field(default_factory=dict)  # family -> lines

    @property
    def size(self) -> int:
        """Bytes of sample lines."""
        lines = sum(family.size for family in self.campaigns.values())
        return lines + sum(map(len, self.totals.values()))

    def family(self, fam: RenderedFamily) -> Lines:
        if fam.name not in self.headers:
            self.headers[fam.name] = (fam.kind, fam.help)
            self.campaigns[fam.name] = Lines(self.block)
        return self.campaigns[fam.name]


@dataclass
class Chunk:
    """One family's lines, every source's in order: the same in both formats (only the
    header differs, kept apart per format); joined or gzipped on first demand, from its
    segments' (each kept apart until it changes)."""

    segments: list[Segment]
    header: tuple[Kind, str]
    plain: bytes | None = None
    piece: Piece | None = None
    heads: dict[bool, tuple[bytes, Piece]] = field(default_factory=dict)  # by OpenMetrics

    @property
    def size(self) -> int:
        return sum(segment.size for segment in self.segments)

    def joined(self) -> bytes:
        if self.plain is None:
            lines = (segment.lines.values() for segment in self.segments)
            self.plain = b"".join(itertools.chain.from_iterable(lines))
        return self.plain

    def gzipped(self) -> Piece:
        if self.piece is None:
            self.piece = Piece.joined([segment.gzipped() for segment in self.segments])
        return self.piece

    def head(self, family: str, openmetrics: bool) -> tuple[bytes, Piece]:
        """The header in one format, and gzipped."""
        head = self.heads.get(openmetrics)
        if head is None:
            text = render_header(family, *self.header, openmetrics).encode()
            head = self.heads[openmetrics] = (text, Piece.of(text, GZIP_LEVEL))
        return head


class OwnFamilies(Protocol):
    """Whoever keeps the exporter's own families (telemetry): rendered fresh per scrape."""

    def families(self) -> list[MetricFamily]: ...


class ExpositionStore:
    def __init__(self, telemetry: OwnFamilies, block: int = BLOCK) -> None:
        self.telemetry = telemetry
        self._parts: dict[str, SourceParts] = {}
        self._variants: dict[Key, Variant] = {}
        self._chunks: dict[str, Chunk] = {}  # by family
        self.block = block
        self._lock = threading.Lock()

    def _changed(self, family: str) -> None:
        self._chunks.pop(family, None)

    def update(
        self,
        source: str,
        campaigns: Mapping[str, Sequence[RenderedFamily] | None],
        totals: Sequence[RenderedFamily],
        some: Mapping[str, Sequence[RenderedFamily]] | None = None,
    ) -> None:
        """Replace some campaigns' lines (None: the campaign is gone) and the source's
        totals, and of other campaigns only the families given (``some``: e.g. their read
        time); callable from a worker thread. What it did not name stays as it was."""
        with self._lock:
            parts = self._parts.setdefault(source, SourceParts(self.block))
            changed: set[str] = set()
            for cid, families in campaigns.items():
                given = {fam.name: fam for fam in families or ()}
                for fam in given.values():
                    parts.family(fam)
                for name in parts.campaigns:
                    self._replace(
                        parts, name, cid, given[name].body if name in given else b"", changed
                    )
            for cid, families in (some or {}).items():
                for fam in families:
                    parts.family(fam)
                    self._replace(parts, fam.name, cid, fam.body, changed)
            new_totals: dict[str, bytes] = {}
            for fam in totals:
                parts.family(fam)
                new_totals[fam.name] = fam.body
            for name in new_totals.keys() | parts.totals.keys():
                if new_totals.get(name, b"") != parts.totals.get(name, b""):
                    changed.add(name)
            parts.totals = new_totals
            for name in changed:
                self._changed(name)
            self._variants = {}

    @staticmethod
    def _replace(parts: SourceParts, name: str, cid: str, body: bytes, changed: set[str]) -> None:
        """One campaign's lines of one family (empty: none)."""
        lines = parts.campaigns[name]
        old = lines.get(cid)
        if body == old:
            return
        changed.add(name)
        lines.set(cid, body)  # changed lines gather at the end (see BLOCK)

    def publish(self, source: str, rendered: list[RenderedFamily]) -> None:
        """Replace one source's families as a whole (families without campaigns)."""
        self.remove(source)
        self.update(source, {}, rendered)

    def remove(self, source: str) -> None:
        with self._lock:
            parts = self._parts.pop(source, None)
            for name in parts.headers if parts else ():
                self._changed(name)
            self._variants = {}

    def cached(self, openmetrics: bool, gzip: bool, names: Names = None) -> Variant | None:
        """The body for a format (and selection) if it is built already: the fast path of
        a scrape."""
        current = self._variants.get((openmetrics, names))
        return current if current is not None and current.has(gzip) else None

    def build(self, openmetrics: bool, gzip: bool, names: Names = None) -> Variant:
        """Build a body once per publication; slow, so call it off the event loop."""
        with self._lock:
            variants = self._variants
            key = (openmetrics, names)
            current = variants.get(key) or Variant()
            if current.has(gzip):
                return current
            chunks = [(f, c) for f in self._families(names) if (c := self._chunk(f)).size]
            if gzip:
                pieces = []
                for family, chunk in chunks:
                    pieces += [chunk.head(family, openmetrics)[1], chunk.gzipped()]
                current = Variant(current.chunks, GzipPieces.of(pieces, GZIP_LEVEL))
            else:
                plain = []
                for family, chunk in chunks:
                    plain += [chunk.head(family, openmetrics)[0], chunk.joined()]
                current = Variant(tuple(plain), current.gzip)
            self._variants = _bounded(variants, key, current, self._text_size())
            return current

    def _families(self, names: Names) -> list[str]:
        """The families a body holds, in first-seen order over the sources."""
        order: dict[str, Kind] = {}
        for parts in self._parts.values():
            for name, (kind, _) in parts.headers.items():
                order.setdefault(name, kind)
        return [
            name for name, kind in order.items() if names is None or selected(name, kind, names)
        ]

    def _chunk(self, family: str) -> Chunk:
        """One family's lines, every source's in order (no segment: no line), and the
        header of the first source that has it."""
        chunk = self._chunks.get(family)
        if chunk is None:
            segments: list[Segment] = []
            header: tuple[Kind, str] | None = None
            for parts in self._parts.values():
                if family in parts.headers:
                    header = header or parts.headers[family]
                    segments += parts.campaigns[family].compact()
                    total = parts.totals.get(family)
                    if total:
                        segments.append(Segment({"": total}, len(total)))
            assert header is not None, "a family the store knows"
            chunk = self._chunks[family] = Chunk(segments, header)
        return chunk

    def dynamic(self, openmetrics: bool, names: Names = None) -> bytes:
        """The exporter's own families, rendered fresh for each scrape."""
        fams = self.telemetry.families()
        if names is not None:
            fams = [f for f in fams if selected(f.name, f.kind, names)]
        return assemble([pre_render(fams)], openmetrics) + (b"# EOF\n" if openmetrics else b"")

    def _text_size(self) -> int:
        """The size of the whole text body, built or not: what selections may use."""
        headers = {
            name: len(render_header(name, kind, help_text, False))
            for parts in self._parts.values()
            for name, (kind, help_text) in parts.headers.items()
        }
        return sum(parts.size for parts in self._parts.values()) + sum(headers.values())


def _bounded(
    variants: dict[Key, Variant], key: Key, new: Variant, whole_size: int
) -> dict[Key, Variant]:
    """``variants`` with ``new`` at ``key``, within the bounds on cached selections."""
    if key[1] is None:
        return {**variants, key: new}
    budget = max(whole_size, MIN_SELECTION_BUDGET)
    if new.size > budget:
        return variants
    kept = {k: v for k, v in variants.items() if k != key}
    chosen = [k for k in kept if k[1] is not None]
    used = sum(kept[k].size for k in chosen) + new.size
    while chosen and (len(chosen) >= MAX_SELECTIONS or used > budget):
        used -= kept.pop(chosen.pop(0)).size
    return {**kept, key: new}
