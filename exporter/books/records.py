"""The books' records as the file holds them, and their encoding: a campaign's ``Row``
(its snapshot as versioned JSON, never pickle, decoded by its type hints), a source's
``LearnedPace`` per endpoint class, and the key a source's rows are filed under. Pure
values and functions: ``storage`` reads and writes them, the upstream client's pacing
makes and resumes the paces."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, Union

from .ledger import Entry

SNAPSHOT_FORMAT = 1  # the version each snapshot's JSON carries


class StoredEntry(Protocol):
    """What is written of one ledger entry (``ledger.Entry``)."""

    campaign_id: str
    snapshot: Any
    updated_at: float
    state: str | None
    state_since: float
    first_seen: float
    finished_at: float | None


@dataclass(frozen=True)
class Row:
    """One campaign as stored: the snapshot still JSON, decoded by whoever knows its type."""

    campaign_id: str
    version: str | None  # the listing version it was selected at
    snapshot: Any  # decoded JSON
    updated_at: float
    state: str | None
    state_since: float
    first_seen: float
    finished_at: float | None


@dataclass(frozen=True)
class LearnedPace:
    """What a class's pace has learned of the vendor's limit, as kept across a restart:
    the pace, the ceiling the last 429 set (None: none yet), and whether it was measured."""

    rate: float
    ceiling: float | None
    measured: bool


def source_key(name: str, type_name: str, base_url: str) -> str:
    """A source's identity in the file: a new base_url (or name, or type) starts clean."""
    return hashlib.sha256(json.dumps([name, type_name, base_url]).encode()).hexdigest()[:32]


# -- snapshots as JSON ------------------------------------------------------------------


def dump_snapshot(snapshot: Any) -> str:
    """The document a row holds of ``snapshot``: its JSON with the format it is in; a
    TypeError or ValueError when it cannot be stored."""
    return json.dumps({"format": SNAPSHOT_FORMAT, "snapshot": encode(snapshot)})


def load_snapshot(document: str | bytes) -> Any:
    """The snapshot (still JSON values) of a row's document; a ValueError when it is no
    JSON object of this format."""
    doc = json.loads(document)
    if not isinstance(doc, dict) or doc.get("format") != SNAPSHOT_FORMAT:
        raise ValueError("not a snapshot of this format")
    return doc.get("snapshot")


def encode(value: Any) -> Any:
    """A snapshot (dataclasses, dicts, lists, dates, scalars) as plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [encode(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"cannot store a {type(value).__name__}")


def decode(kind: Any, data: Any) -> Any:
    """``data`` (from ``encode``) back as ``kind``, by its type hints; a ValueError or
    TypeError when it does not fit."""
    origin = typing.get_origin(kind)
    if origin in (Union, types.UnionType):
        options = typing.get_args(kind)
        if data is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return decode(option, data)
            except (TypeError, ValueError) as exc:
                errors.append(exc)
        raise ValueError(f"fits none of {kind}: {errors}")
    if kind is Any:
        return data
    if dataclasses.is_dataclass(kind) and isinstance(kind, type):
        if not isinstance(data, dict):
            raise TypeError(f"{kind.__name__}: expected an object")
        hints = typing.get_type_hints(kind)
        values = {
            f.name: decode(hints[f.name], data[f.name])
            for f in dataclasses.fields(kind)
            if f.init and f.name in data
        }
        return kind(**values)
    if origin in (dict, Mapping) or kind is dict:
        if not isinstance(data, dict):
            raise TypeError("expected an object")
        key_type, value_type = typing.get_args(kind) or (str, Any)
        return {decode(key_type, k): decode(value_type, v) for k, v in data.items()}
    if origin in (list, tuple, Sequence, frozenset, set):
        if not isinstance(data, list):
            raise TypeError("expected a list")
        args = typing.get_args(kind)
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return tuple(decode(a, v) for a, v in zip(args, data, strict=True))
        item = args[0] if args else Any
        items = [decode(item, v) for v in data]
        return items if origin in (list, Sequence) else origin(items)
    if kind is dt.date:
        if not isinstance(data, str):
            raise TypeError("expected a date")
        return dt.date.fromisoformat(data)
    if kind is float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            raise TypeError("expected a number")
        return float(data)
    if kind in (int, str, bool):
        if type(data) is not kind:
            raise TypeError(f"expected {kind.__name__}")
        return data
    if typing.get_origin(kind) is typing.Literal:
        if data not in typing.get_args(kind):
            raise ValueError(f"not one of {typing.get_args(kind)}")
        return data
    raise TypeError(f"cannot restore a {kind}")


def entries(
    rows: Sequence[Row], snapshot_type: Any
) -> tuple[list[tuple[Entry[Any], str | None]], int]:
    """The rows as ledger entries with their listing versions, in the order stored; and
    how many could not be restored (a snapshot that no longer fits its type)."""
    out: list[tuple[Entry[Any], str | None]] = []
    bad = 0
    for row in rows:
        try:
            snapshot = decode(snapshot_type, row.snapshot)
        except (TypeError, ValueError, KeyError):
            bad += 1
            continue
        entry = Entry(
            row.campaign_id,
            snapshot,
            row.updated_at,
            row.state,
            row.state_since,
            row.first_seen,
            row.finished_at,
        )
        out.append((entry, row.version))
    return out, bad
