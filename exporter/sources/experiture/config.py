"""The ``type: experiture`` source's config schema, with its defaults and checks."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field, model_validator

from ...config.schema import Authorization, OAuth2, SourceConfig
from ...config.schema import Polling as BasePolling
from ...config.types import HttpUrl, PositiveDuration, Strict
from .metrics import FAMILY_NAMES

CHANNELS = ("email", "sms", "push", "direct_mail")


def _channel(value: str) -> str:
    if value not in CHANNELS:
        raise ValueError(f'unknown channel "{value}": expected one of {", ".join(CHANNELS)}')
    return value


Channel = Annotated[str, AfterValidator(_channel)]


class Discovery(Strict):
    """How ``GET /campaigns`` finds the campaigns to poll."""

    enabled: bool = True
    status: str | None = "published"
    channels: list[Channel] = Field(default_factory=list)
    page_size: int = Field(default=100, ge=1, le=100)
    # Each poll interval only the list's head is walked, until a page holds nothing new
    # (it is sorted by updatedAt, newest first); a whole walk this often finds deletions.
    full_walk_interval: PositiveDuration = 600.0


class Polling(BasePolling):
    """How often each campaign is read, by its state; a scheduled campaign is read every
    ``poll_interval`` from ``send_lead`` before its send."""

    scheduled_interval: PositiveDuration = 600.0
    send_lead: PositiveDuration = 600.0


class ExperitureConfig(SourceConfig):
    metric_families: ClassVar[tuple[str, ...]] = FAMILY_NAMES
    # Experiture limits each class on its own: campaigns (list, summary, status) and
    # analytics (metrics).
    endpoint_classes: ClassVar[tuple[str, ...]] = ("campaigns", "analytics")
    type: Literal["experiture"]
    base_url: HttpUrl = "https://api.experiture.ai/public/v1"
    authorization: Authorization | None = None
    oauth2: OAuth2 | None = None
    discovery: Discovery = Field(default_factory=Discovery)
    campaigns: list[str] = Field(default_factory=list)
    summary_interval: PositiveDuration = 600.0
    polling: Polling = Field(default_factory=Polling)

    @model_validator(mode="after")
    def _one_auth(self) -> ExperitureConfig:
        if (self.authorization is None) == (self.oauth2 is None):
            raise ValueError("set exactly one of authorization or oauth2")
        if not self.discovery.enabled and not self.campaigns:
            raise ValueError("discovery is disabled and no campaigns are listed")
        return self
