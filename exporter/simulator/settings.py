"""How big the simulated worlds are and how the simulator behaves: one frozen record."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# Named shapes of Experiture's fleet, in place of the default mix (experiture.FLEETS).
PRESETS = ("long-used",)


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
    rate_limit: float | None = None  # requests per second per API and endpoint class
    rate_burst: int = 10
    # Endpoint classes with a limit of their own, e.g. {"analytics": 1.0}. Experiture's
    # limits are per endpoint class and independent: campaigns (list, summary, status,
    # preflight) and analytics (metrics).
    class_rate_limits: Mapping[str, float] = field(default_factory=dict)
    # A named Experiture fleet (one of PRESETS) instead of the default mix; ``healthy``
    # does not apply to it. GreenArrow's world is the same either way.
    preset: str | None = None

    def __post_init__(self) -> None:
        if self.preset is not None and self.preset not in PRESETS:
            expected = ", ".join(PRESETS)
            raise ValueError(f'unknown preset "{self.preset}": expected one of {expected}')
