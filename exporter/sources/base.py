"""The one small interface every upstream source implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from ..exposition import MetricFamily
from ..schema import SourceConfig
from ..shard import Shard
from ..telemetry import Telemetry
from ..upstream import UpstreamClient

C = TypeVar("C", bound=SourceConfig)
UNSHARDED = Shard()


@dataclass(frozen=True, slots=True)
class CampaignRow:
    """One campaign as the status page shows it."""

    campaign_id: str
    name: str
    state: str
    done: int | None  # records sent (Experiture) or messages sent (GreenArrow)
    total: int | None  # records scheduled, or recipients
    failure_ratio: float | None  # failed/scheduled, or bounced/sent
    updated_at: float | None
    error: str | None = None


class SourceError(Exception):
    """A refresh that could not complete: the source is down until the next one works.

    The message is shown on the landing page and logged; it never holds a credential.
    """

    def __init__(
        self, message: str, reason: str = "refresh", correlation_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.correlation_id = correlation_id


class Source(ABC, Generic[C]):
    """Polls one upstream system and keeps the last good data of each campaign.

    ``refresh`` updates what it knows (raising ``SourceError`` when the whole refresh
    failed; per-campaign failures keep that campaign's last good values). ``families``
    renders what it knows now. Neither is ever called concurrently with itself.
    """

    def __init__(self, config: C, telemetry: Telemetry, shard: Shard = UNSHARDED) -> None:
        self.config = config
        self.telemetry = telemetry
        self.shard = shard
        self.client = UpstreamClient(
            config.name,
            telemetry,
            timeout=config.timeout,
            concurrency=config.concurrency,
            rate_limit=config.rate_limit,
            max_response_size=config.max_response_size,
        )

    @property
    def name(self) -> str:
        return self.config.name

    @abstractmethod
    async def refresh(self) -> None: ...

    @abstractmethod
    def families(self) -> list[MetricFamily]: ...

    @abstractmethod
    def campaign_rows(self) -> list[CampaignRow]:
        """What the status page shows of each campaign, from the last good data."""

    async def aclose(self) -> None:
        await self.client.aclose()


@dataclass(frozen=True)
class SourceKind(Generic[C]):
    """A source type: its config schema and how to build it."""

    type_name: str
    config_model: type[C]
    create: Callable[[C, Telemetry, Shard], Source[C]]
