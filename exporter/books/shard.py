"""Horizontal scale: which campaigns this replica owns, by a stable hash of the campaign id."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Shard:
    index: int = 0
    total: int = 1

    def __post_init__(self) -> None:
        if self.total < 1 or not 0 <= self.index < self.total:
            raise ValueError(f"shard {self.index} of {self.total}: need 0 <= shard < total")

    def owns(self, campaign_id: str) -> bool:
        if self.total == 1:
            return True
        digest = hashlib.blake2b(campaign_id.encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") % self.total == self.index
