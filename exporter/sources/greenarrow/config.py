"""The ``type: greenarrow`` source's config schema, with its defaults and checks."""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from ...config.schema import Authorization, BasicAuth, Polling, SourceConfig
from ...config.types import PositiveDuration
from .metrics import FAMILY_NAMES

# The API's own path, which the source adds to base_url: given twice, every request 404s.
_API_PATH = re.compile(r"/ga(?:/api(?:/v\d+(?:/system_campaigns)?)?)?$")


class GreenArrowConfig(SourceConfig):
    metric_families: ClassVar[tuple[str, ...]] = FAMILY_NAMES
    type: Literal["greenarrow"]
    basic_auth: BasicAuth | None = None
    authorization: Authorization | None = None
    lookback: PositiveDuration = 30 * 86400.0
    per_page: int = Field(default=500, ge=1, le=500)
    poll_interval: PositiveDuration = 60.0
    # How often a start window is read again: every poll interval while it holds a
    # campaign sending (the newest one always), else by how long ago its campaigns ended.
    polling: Polling = Field(default_factory=Polling)

    @field_validator("base_url")
    @classmethod
    def _host_only(cls, value: str) -> str:
        found = _API_PATH.search(value)
        if found:
            raise ValueError(
                f'ends in "{found.group()}", which the exporter adds (requests would go to '
                f'{found.group()}/ga/api/v2/...): use "{value[: found.start()]}"'
            )
        return value

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
