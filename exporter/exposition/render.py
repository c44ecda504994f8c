"""Metric families and their text rendering (Prometheus text 0.0.4 and OpenMetrics 1.0).

A campaign is rendered when a read changed it, off the scrape path; scrapes serve the
bytes as they are (exporter.exposition.store).
"""

from __future__ import annotations

import functools
import math
import struct
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["gauge", "counter", "histogram"]

TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"


@dataclass(slots=True)
class MetricFamily:
    """One metric family: a name, its type and help, and its samples.

    A counter's ``name`` ends in ``_total``, which is also its sample name; the
    OpenMetrics family name drops the suffix. A histogram's samples each carry their
    suffix (``_bucket``, ``_sum``, ``_count``); a bucket's last label value is its ``le``.
    A ``state_set`` has a series per state of a campaign, 1 for the current one and 0
    for the others.
    """

    name: str
    kind: Kind
    help: str
    label_names: tuple[str, ...]
    samples: list[tuple[tuple[str, ...], float]] = field(default_factory=list)
    suffixes: list[str] = field(default_factory=list)  # histograms only, one per sample
    state_set: bool = False

    def add(self, label_values: tuple[str, ...], value: float, suffix: str = "") -> None:
        self.samples.append((label_values, value))
        if self.kind == "histogram":
            self.suffixes.append(suffix)

    def add_states(self, key: tuple[str, ...], documented: Sequence[str], current: str) -> None:
        """A state set's series for one campaign: 1 for ``current``, 0 for each other
        documented state; an undocumented value gets a series of its own."""
        for state in documented:
            self.add((*key, state), 1.0 if state == current else 0.0)
        if current not in documented:
            self.add((*key, current), 1.0)


def format_value(value: float) -> str:
    if value == 0.0 or value == 1.0:  # most samples: states, flags (-0.0 too)
        return "1" if value else "0"
    if value != value:  # NaN is never equal to itself
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def _escape_label(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def render_samples(family: MetricFamily) -> str:
    """The sample lines of one family: identical in both formats."""
    if family.kind == "histogram":
        return _render_histogram(family)
    name = family.name
    names = family.label_names
    if not names:
        return "".join(f"{name} {format_value(value)}\n" for _, value in family.samples)
    # Series of one family mostly differ in their last label only (a campaign's states,
    # stages): the labels before it are escaped and joined once per run of equal values.
    width, leading, last = len(names), names[:-1], f'{names[-1]}="'
    lines: list[str] = []
    append = lines.append
    lead: tuple[str, ...] | None = None
    prefix = ""
    for values, value in family.samples:
        if len(values) != width:
            raise ValueError(f"{name}: {len(values)} label values for {width} names")
        if values[:-1] != lead:
            lead = values[:-1]
            pairs = zip(leading, lead, strict=True)
            prefix = name + "{" + "".join(f'{k}="{_escape_label(v)}",' for k, v in pairs)
        append(f'{prefix}{last}{_escape_label(values[-1])}"}} {format_value(value)}\n')
    return "".join(lines)


def _render_histogram(family: MetricFamily) -> str:
    lines = []
    for (values, value), suffix in zip(family.samples, family.suffixes, strict=True):
        names = (*family.label_names, "le") if suffix == "_bucket" else family.label_names
        labels = ",".join(f'{k}="{_escape_label(v)}"' for k, v in zip(names, values, strict=True))
        lines.append(f"{family.name}{suffix}{{{labels}}} {format_value(value)}\n")
    return "".join(lines)


def render_header(name: str, kind: Kind, help_text: str, openmetrics: bool) -> str:
    family_name = name
    if openmetrics and kind == "counter" and name.endswith("_total"):
        family_name = name[: -len("_total")]
    return f"# HELP {family_name} {_escape_help(help_text)}\n# TYPE {family_name} {kind}\n"


def selected(name: str, kind: Kind, names: frozenset[str]) -> bool:
    """Whether a ``name[]`` selection asks for this family: by the name its samples carry
    (as prometheus_client's ``name[]`` does), or for a counter by its OpenMetrics family
    name, without ``_total``, too."""
    return name in names or (kind == "counter" and name.removesuffix("_total") in names)


@dataclass(frozen=True, slots=True)
class RenderedFamily:
    """A family's header fields and its sample lines, already encoded."""

    name: str
    kind: Kind
    help: str
    body: bytes


def pre_render(families: Iterable[MetricFamily]) -> list[RenderedFamily]:
    return [RenderedFamily(f.name, f.kind, f.help, render_samples(f).encode()) for f in families]


def assemble(parts: Sequence[Sequence[RenderedFamily]], openmetrics: bool) -> bytes:
    """Join families from several producers, one header per family name."""
    return assemble_lines(
        (
            (fam.name, fam.kind, fam.help, (fam.body,) if fam.body else ())
            for part in parts
            for fam in part
        ),
        openmetrics,
    )


# name, kind, help, and its sample lines (none of them empty)
FamilyLines = tuple[str, Kind, str, Iterable[bytes]]


def assemble_lines(families: Iterable[FamilyLines], openmetrics: bool) -> bytes:
    """Join families' sample lines, one header per family name, in first-seen order.

    Two sources of one type export the same family names; the exposition formats
    want each family's samples together under a single header. A family without a
    line gets no header.
    """
    order: dict[str, tuple[Kind, str]] = {}
    bodies: dict[str, list[bytes]] = {}
    for name, kind, help_text, lines in families:
        if name not in order:
            order[name] = (kind, help_text)
            bodies[name] = []
        bodies[name].extend(lines)
    chunks: list[bytes] = []
    for name, (kind, help_text) in order.items():
        if bodies[name]:
            chunks.append(render_header(name, kind, help_text, openmetrics).encode())
            chunks.extend(bodies[name])
    return b"".join(chunks)


# -- gzip from pieces compressed apart ---------------------------------------------------
#
# A deflate stream may be cut wherever a compressor was fully flushed: the output ends on
# a byte boundary and nothing after refers back to it. So each family is compressed on its
# own, once, and a body is its families' pieces in a row, under one gzip header; the
# trailer's CRC-32 is combined from the pieces' (zlib's crc32_combine, in GF(2)).

_CRC_POLY = 0xEDB88320  # CRC-32, reflected
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, no name or time


def _multmodp(a: int, b: int) -> int:
    """a times b modulo the CRC polynomial (bit-reflected)."""
    product, bit = 0, 1 << 31
    while a:
        if a & bit:
            product ^= b
            a ^= bit
        bit >>= 1
        b = (b >> 1) ^ _CRC_POLY if b & 1 else b >> 1
    return product


_X2N = [1 << 30]  # x^(2^k) modulo the polynomial
for _ in range(31):
    _X2N.append(_multmodp(_X2N[-1], _X2N[-1]))


@functools.lru_cache(maxsize=64)  # headers and totals keep their lengths
def crc_shift(length: int) -> int:
    """The operator that moves a CRC past ``length`` more bytes: x^(8 length) mod p."""
    op, k = 1 << 31, 3
    while length:
        if length & 1:
            op = _multmodp(_X2N[k & 31], op)
        length >>= 1
        k += 1
    return op


def crc_combine(crc: int, shift: int, crc2: int) -> int:
    """The CRC-32 of A+B from A's, B's and ``crc_shift(len(B))``."""
    return _multmodp(shift, crc) ^ crc2


@dataclass(frozen=True, slots=True)
class Piece:
    """Bytes of a body, compressed on their own (raw deflate, fully flushed), with what a
    gzip trailer needs of them."""

    deflate: bytes
    crc: int
    shift: int  # crc_shift(len(plain))
    size: int  # len(plain)

    @classmethod
    def of(cls, plain: bytes | memoryview, level: int) -> Piece:
        comp = zlib.compressobj(level, zlib.DEFLATED, -15)
        data = comp.compress(plain) + comp.flush(zlib.Z_FULL_FLUSH)
        return cls(data, zlib.crc32(plain), crc_shift(len(plain)), len(plain))

    @classmethod
    def joined(cls, pieces: Sequence[Piece]) -> Piece:
        """The pieces in a row, as one."""
        if len(pieces) == 1:
            return pieces[0]
        size = sum(piece.size for piece in pieces)
        deflate = b"".join(piece.deflate for piece in pieces)
        return cls(deflate, crc_in_a_row(pieces), crc_shift(size), size)


def crc_in_a_row(pieces: Sequence[Piece]) -> int:
    """The CRC-32 of the pieces' bytes one after the other, from theirs."""
    crc = 0
    for piece in pieces:
        crc = crc_combine(crc, piece.shift, piece.crc)
    return crc


@dataclass(frozen=True, slots=True)
class GzipPieces:
    """A gzip stream of pieces in a row, left open so a small tail (the exporter's own
    families, fresh at each scrape) can finish it: a scrape sends ``parts`` and
    ``closing(tail)`` one after the other, never joined, which would copy the body."""

    parts: tuple[bytes, ...]  # the gzip header, then each piece's deflate data
    crc: int
    size: int
    level: int

    @classmethod
    def of(cls, pieces: Sequence[Piece], level: int) -> GzipPieces:
        parts = (_GZIP_HEADER, *(piece.deflate for piece in pieces))
        return cls(parts, crc_in_a_row(pieces), sum(piece.size for piece in pieces), level)

    @property
    def data(self) -> bytes:
        """The stream so far in one piece (for tests and tools: scrapes send ``parts``)."""
        return b"".join(self.parts)

    @property
    def length(self) -> int:
        return sum(map(len, self.parts))

    def closing(self, tail: bytes) -> bytes:
        comp = zlib.compressobj(self.level, zlib.DEFLATED, -15)
        end = comp.compress(tail) + comp.flush(zlib.Z_FINISH)
        crc = zlib.crc32(tail, self.crc)
        return end + struct.pack("<II", crc, (self.size + len(tail)) & 0xFFFFFFFF)
