"""The ``type: greenarrow`` source's config schema, with its defaults and checks."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from ...schema import Authorization, BasicAuth, PositiveDuration, SourceConfig
from .metrics import FAMILY_NAMES


class GreenArrowConfig(SourceConfig):
    metric_families: ClassVar[tuple[str, ...]] = FAMILY_NAMES
    type: Literal["greenarrow"]
    basic_auth: BasicAuth | None = None
    authorization: Authorization | None = None
    lookback: PositiveDuration = 30 * 86400.0
    per_page: int = Field(default=500, ge=1, le=500)
    poll_interval: PositiveDuration = 60.0

    @model_validator(mode="after")
    def _one_auth(self) -> GreenArrowConfig:
        if (self.basic_auth is None) == (self.authorization is None):
            raise ValueError("set exactly one of basic_auth or authorization")
        if self.authorization is not None and self.authorization.type.lower() != "basic":
            raise ValueError(
                "authorization.type must be Basic: GreenArrow takes the pre-encoded "
                "organization id and API key as Basic credentials"
            )
        return self
