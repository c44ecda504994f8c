"""How big the simulated worlds are and how the simulator behaves: one frozen record."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SimulatorSettings:
    experiture_campaigns: int = 300
    greenarrow_campaigns: int = 300
    seed: int = 42
    speed: float = 1.0
    token_ttl: float = 3600.0
    max_page_size: int = 100
    greenarrow_omit_num_pages: bool = False
    healthy: bool = False  # no failed, overdue, stalled or badly delivering campaigns
    rate_limit: float | None = None  # requests per second per API; more get 429
    rate_burst: int = 10
