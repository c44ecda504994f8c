"""Faults injected into simulated answers on demand: which requests, what goes wrong."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Literal, get_args

FaultKind = Literal[
    "latency",
    "http_5xx",
    "rate_limit",
    "malformed",
    "envelope_error",
    "nulls",
    "unknown_values",
    "hang",
    "outage",
    "conflict",  # a 409 whose code is not about the campaign's type
    # hostile answers (see hostile.py)
    "bad_text",
    "huge_numbers",
    "oversized_page",
    "bogus_total",
    "bad_ids",
    "gzip_bomb",
    "huge_body",
    "deep_json",
    "redirect_away",
    "redirect_port",
    "echo_credentials",
    "same_page",
]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)


@dataclass
class Fault:
    """A rule: requests to ``api``/``endpoint`` (``*`` for any) get ``kind``.

    ``count`` limits how many requests it hits (None: until cleared); ``probability``
    picks a share of them, from the simulator's seeded random source.
    """

    kind: FaultKind
    api: str = "*"
    endpoint: str = "*"
    count: int | None = None
    probability: float = 1.0
    status: int = 503
    retry_after: float = 1.0
    delay: float = 0.5
    size: int = 2 * 1024**3  # bytes a gzip_bomb inflates to, or a huge_body holds

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Fault:
        if raw.get("kind") not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(FAULT_KINDS)}")
        fields = {k: raw[k] for k in cls.__dataclass_fields__ if k in raw}
        return cls(**fields)

    def matches(self, api: str, endpoint: str) -> bool:
        return self.api in ("*", api) and self.endpoint in ("*", endpoint)


class FaultPlan:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.faults: list[Fault] = []
        self.injected: dict[str, int] = {}

    def add(self, fault: Fault) -> None:
        self.faults.append(fault)

    def clear(self) -> None:
        self.faults.clear()

    def pick(self, api: str, endpoint: str) -> Fault | None:
        for fault in self.faults:
            if not fault.matches(api, endpoint):
                continue
            if fault.count is not None and fault.count <= 0:
                continue
            if fault.probability < 1.0 and self.rng.random() >= fault.probability:
                continue
            if fault.count is not None:
                fault.count -= 1
            self.injected[fault.kind] = self.injected.get(fault.kind, 0) + 1
            return fault
        return None


def sprinkle_nulls(value: Any, rng: random.Random) -> Any:
    """The ``nulls`` fault: some values, at any depth, turned to null."""
    if isinstance(value, dict):
        return {k: None if rng.random() < 0.3 else sprinkle_nulls(v, rng) for k, v in value.items()}
    if isinstance(value, list):
        return [None if rng.random() < 0.2 else sprinkle_nulls(v, rng) for v in value]
    return value


def unknown_values(value: Any) -> Any:
    """The ``unknown_values`` fault: every state, status and channel one no doc lists."""
    if isinstance(value, dict):
        return {
            k: (
                "surprising_new_value"
                if k in ("state", "status", "channel") and isinstance(v, str)
                else unknown_values(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [unknown_values(v) for v in value]
    return value
