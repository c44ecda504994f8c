"""The exposition store: bodies assembled from per-family chunks kept across publications,
gzipped in pieces; what a scrape gets always equals a body built from scratch."""

from __future__ import annotations

import gzip
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.exposition.render import (
    GzipPieces,
    MetricFamily,
    Piece,
    crc_combine,
    crc_shift,
    pre_render,
)
from exporter.exposition.store import BLOCK, ExpositionStore
from exporter.telemetry import Telemetry

from ...helpers import Samples


def families(source: str, cid: str, state: str, sent: int, read_at: float) -> list[MetricFamily]:
    key = (source, cid)
    info = MetricFamily("x_campaign_info", "gauge", "Campaign.", ("source", "campaign_id"))
    info.add(key, 1.0)
    states = MetricFamily("x_campaign_state", "gauge", "State.", ("source", "campaign_id", "state"))
    states.add_states(key, ("running", "failed"), state)
    sent_total = MetricFamily("x_sent_total", "counter", "Sent.", ("source", "campaign_id"))
    sent_total.add(key, float(sent))
    updated = MetricFamily(
        "x_last_updated_timestamp_seconds", "gauge", "Read at.", ("source", "campaign_id")
    )
    updated.add(key, read_at)
    return [info, states, sent_total, updated]


def totals(source: str, count: int) -> list[MetricFamily]:
    fam = MetricFamily("x_campaigns", "gauge", "Campaigns.", ("source",))
    fam.add((source,), float(count))
    return [fam]


Campaign = tuple[str, int, float]  # state, sent, read at
Books = dict[str, dict[str, Campaign]]  # source -> campaign -> what it shows


def fill(store: ExpositionStore, books: Books, changed: dict[str, set[str]]) -> None:
    for source, ids in changed.items():
        campaigns = books.get(source, {})
        update = {
            cid: pre_render(families(source, cid, *campaigns[cid])) if cid in campaigns else None
            for cid in ids
        }
        store.update(source, update, pre_render(totals(source, len(campaigns))))


def body(
    store: ExpositionStore, openmetrics: bool, gz: bool, names: frozenset[str] | None
) -> bytes:
    variant = store.build(openmetrics, gz, names)
    if not gz:
        return variant.body
    assert variant.gzip is not None
    return gzip.decompress(variant.gzip.data + variant.gzip.closing(b""))


def test_a_publication_that_moves_read_times_only_changes_that_family() -> None:
    """Two sources share every family (one header each); after a read of one campaign,
    the body has its new read time and nothing else moved."""
    store = ExpositionStore(Telemetry(process_metrics=False))
    books: Books = {
        "a": {"1": ("running", 5, 100.0), "2": ("failed", 7, 100.0)},
        "b": {"9": ("running", 1, 100.0)},
    }
    fill(store, books, {"a": {"1", "2"}, "b": {"9"}})
    before = body(store, False, True, None).decode()
    assert before.count("# TYPE x_campaign_state gauge") == 1
    books["a"]["2"] = ("failed", 7, 130.0)
    fill(store, books, {"a": {"2"}})
    after = body(store, False, True, None).decode()
    assert body(store, False, False, None).decode() == after
    changed = set(after.splitlines()) ^ set(before.splitlines())
    assert changed == {
        'x_last_updated_timestamp_seconds{source="a",campaign_id="2"} 100',
        'x_last_updated_timestamp_seconds{source="a",campaign_id="2"} 130',
    }
    samples = Samples(after)
    assert samples.value("x_campaign_state", campaign_id="2", state="failed") == 1
    assert samples.value("x_sent_total", source="b", campaign_id="9") == 1


def test_the_openmetrics_body_names_counters_without_total_and_gzips_the_same() -> None:
    store = ExpositionStore(Telemetry(process_metrics=False))
    fill(store, {"a": {"1": ("running", 5, 100.0)}}, {"a": {"1"}})
    text = body(store, True, True, None).decode()
    assert "# TYPE x_sent counter\n" in text and "x_sent_total{" in text
    assert text == body(store, True, False, None).decode()


sources = st.sampled_from(["a", "b"])
ids = st.sampled_from(["1", "2", "3", "4"])
campaign = st.tuples(
    st.sampled_from(["running", "failed", "paused"]),
    st.integers(0, 3),
    st.sampled_from([100.0, 130.0, 160.0]),
)
step = st.tuples(sources, ids, st.none() | campaign)


def by_family(text: bytes) -> dict[bytes, tuple[list[bytes], list[bytes]]]:
    """A body's families: each one's header, and its lines sorted (families, sources and
    campaigns come in the order the store first saw them, which differs between stores
    fed differently)."""
    blocks = [b"# HELP " + block for block in text.split(b"# HELP ")[1:]]
    assert b"".join(blocks) == text
    found = {}
    for block in blocks:
        lines = block.splitlines()
        found[lines[0].split(b" ", 3)[2]] = (lines[:2], sorted(lines[2:]))
    return found


@pytest.mark.parametrize("block", [BLOCK, 40])
@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(step, min_size=1, max_size=6), min_size=1, max_size=8))
def test_every_body_equals_one_built_from_scratch(
    block: int, publications: list[list[tuple[str, str, Campaign | None]]]
) -> None:
    """Whatever the publications (campaigns added, changed, unchanged, removed), each
    format and selection a scrape gets equals what a new store builds from the same
    books, and its gzip stream decompresses to it (in segments of 40 bytes too, where most
    publications keep some segments and compress the rest again)."""
    store = ExpositionStore(Telemetry(process_metrics=False), block=block)
    books: Books = {}
    selections = [None, frozenset({"x_campaign_state"}), frozenset({"x_sent", "x_campaigns"})]
    for publication in publications:
        changed: dict[str, set[str]] = {}
        for source, cid, shown in publication:
            if shown is None:
                books.setdefault(source, {}).pop(cid, None)
            else:
                books.setdefault(source, {})[cid] = shown
            changed.setdefault(source, set()).add(cid)
        fill(store, books, changed)
        fresh = ExpositionStore(Telemetry(process_metrics=False))
        fill(fresh, books, {s: set(books[s]) for s in sorted(changed.keys() | books.keys())})
        for names in selections:
            for openmetrics in (False, True):
                want = by_family(fresh.build(openmetrics, False, names).body)
                plain = body(store, openmetrics, False, names)
                assert by_family(plain) == want
                assert body(store, openmetrics, True, names) == plain


@given(st.lists(st.binary(max_size=3000), max_size=12), st.binary(max_size=300))
def test_pieces_compressed_apart_are_one_gzip_stream(parts: list[bytes], tail: bytes) -> None:
    stream = GzipPieces.of([Piece.of(part, 1) for part in parts], 1)
    data = stream.data + stream.closing(tail)
    assert gzip.decompress(data) == b"".join(parts) + tail
    assert int.from_bytes(data[-8:-4], "little") == zlib.crc32(b"".join(parts) + tail)


@given(st.binary(max_size=2000), st.binary(max_size=2000))
def test_crc_combine_is_the_crc_of_the_joined_bytes(a: bytes, b: bytes) -> None:
    combined = crc_combine(zlib.crc32(a), crc_shift(len(b)), zlib.crc32(b))
    assert combined == zlib.crc32(a + b)


@given(st.lists(st.binary(max_size=300), max_size=8))
def test_pieces_joined_are_one_piece_of_the_bytes_in_a_row(parts: list[bytes]) -> None:
    joined = Piece.joined([Piece.of(part, 1) for part in parts])
    whole = b"".join(parts)
    assert zlib.decompressobj(-15).decompress(joined.deflate) == whole
    assert (joined.crc, joined.size) == (zlib.crc32(whole), len(whole))
    # its shift moves a CRC past all of the bytes
    assert crc_combine(zlib.crc32(b"before"), joined.shift, joined.crc) == zlib.crc32(
        b"before" + whole
    )


def counting_compression(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """zlib's compressors from now on, noting how many bytes each call compresses."""
    compressed: list[int] = []
    real = zlib.compressobj

    class Counting:
        def __init__(self, level: int, method: int, wbits: int) -> None:
            self.comp = real(level, method, wbits)

        def compress(self, data: bytes) -> bytes:
            compressed.append(len(data))
            return self.comp.compress(data)

        def flush(self, mode: int) -> bytes:
            return self.comp.flush(mode)

    monkeypatch.setattr(zlib, "compressobj", Counting)
    return compressed


def test_a_line_read_in_turn_compresses_only_the_first_and_last_segments_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Idle campaigns are read in turn, the one read longest ago first: its line leaves
    the family's first segment for the last, and the segments between keep what they
    compressed (before segments, every byte after the first changed one was compressed
    again: here the whole family)."""
    store = ExpositionStore(Telemetry(process_metrics=False), block=256)
    books: Books = {"a": {f"{i:03d}": ("paused", 1, 100.0) for i in range(100)}}
    fill(store, books, {"a": set(books["a"])})
    body(store, False, True, None)
    compressed = counting_compression(monkeypatch)
    # twice round the fleet: segments that lines leave one by one never fragment it
    for read_at in (130.0, 160.0):
        for cid in sorted(books["a"]):
            compressed.clear()
            books["a"][cid] = ("paused", 1, read_at)
            fill(store, books, {"a": {cid}})
            text = body(store, False, True, None)
            assert f'campaign_id="{cid}"}} {read_at:g}'.encode() in text
            # about 6,300 bytes of read times in 25 segments: at most the first (less one
            # line) and the last compressed again, and the small families whole (their
            # headers, the totals; segments of under 100 bytes are not counted)
            big = [n for n in compressed if n > 100]
            assert len(big) <= 2 and sum(big) <= 2 * 256, (cid, big)
    assert sum(1 for line in text.splitlines() if line.startswith(b"x_last_updated")) == 100


def test_a_read_time_moved_twice_compresses_only_the_last_segments_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A line that changes moves to the end of its family: the next change of it (a
    running campaign read again) compresses only the family's last blocks."""
    store = ExpositionStore(Telemetry(process_metrics=False), block=256)
    books: Books = {"a": {str(i): ("running", 1, 100.0) for i in range(100)}}
    fill(store, books, {"a": set(books["a"])})
    body(store, False, True, None)
    compressed = counting_compression(monkeypatch)
    for read_at in (130.0, 160.0):
        compressed.clear()
        books["a"]["5"] = ("running", 1, read_at)
        fill(store, books, {"a": {"5"}})
        text = body(store, False, True, None)
        assert f'campaign_id="5"}} {read_at:g}'.encode() in text
    lines = sum(1 for line in text.splitlines() if line.startswith(b"x_last_updated"))
    assert lines == 100
    # the family's lines: about 6,100 bytes in 24 segments; the second time only its last
    # one or two (and the small families' whole: their headers, the totals)
    assert sum(n for n in compressed if n > 100) <= 2 * 256


def test_cached_selections_together_stay_within_the_size_of_the_whole_body() -> None:
    """Two selections of half the body each fit; one of the whole body pushes both out."""
    store = ExpositionStore(Telemetry())
    halves = []
    for name in ("demo_left", "demo_right"):
        fam = MetricFamily(name, "gauge", "Filler.", ("series",))
        for i in range(40_000):  # about 1.3 MB each: the budget is the 2.6 MB body
            fam.add((f"{i:020d}",), float(i))
        halves.append(fam)
    store.publish("a", pre_render(halves))
    left, right = frozenset({"demo_left"}), frozenset({"demo_right"})
    both = left | right
    for names in (left, right):
        store.build(False, False, names)
    assert store.cached(False, False, left) and store.cached(False, False, right)
    store.build(False, False, both)
    assert store.cached(False, False, both) is not None
    assert store.cached(False, False, left) is None
    assert store.cached(False, False, right) is None
