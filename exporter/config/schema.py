"""The models of a source's config that every source type's schema builds on: credentials,
TLS, rate limits, polling, metric selection and ``SourceConfig``, the keys every source has.

These only describe the YAML, in the field types of ``types``; ``exporter.config.loader``
loads a file through them.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

from . import thresholds as default
from .secrets import SecretRef
from .types import (
    ByteSize,
    Duration,
    HttpUrl,
    PemPath,
    PositiveDuration,
    ProxyUrlField,
    SecretPath,
    SecretStr,
    Strict,
    format_duration,
    one_of,
    secret_ref,
)


class Authorization(Strict):
    """An ``Authorization`` header, as in Prometheus' http_config."""

    type: str = "Bearer"
    credentials: SecretStr | None = None
    credentials_file: SecretPath | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Authorization:
        one_of(self, "credentials", "credentials_file")
        return self

    def secret(self) -> SecretRef:
        return secret_ref(self.credentials, self.credentials_file, "authorization.credentials_file")


class OAuth2(Strict):
    """OAuth 2.0 client-credentials grant."""

    token_url: HttpUrl
    client_id: str = Field(min_length=1)
    client_secret: SecretStr | None = None
    client_secret_file: SecretPath | None = None
    # How the client authenticates to the token endpoint (RFC 6749 2.3.1): HTTP Basic, or
    # client_id and client_secret as form fields.
    client_auth_method: Literal["client_secret_basic", "client_secret_post"] = "client_secret_basic"
    scopes: list[str] = Field(default_factory=list)
    endpoint_params: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _exactly_one(self) -> OAuth2:
        one_of(self, "client_secret", "client_secret_file")
        return self

    def secret(self) -> SecretRef:
        return secret_ref(self.client_secret, self.client_secret_file, "oauth2.client_secret_file")


class BasicAuth(Strict):
    username: str = Field(min_length=1)
    password: SecretStr | None = None
    password_file: SecretPath | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> BasicAuth:
        one_of(self, "password", "password_file")
        return self

    def secret(self) -> SecretRef:
        return secret_ref(self.password, self.password_file, "basic_auth.password_file")


_SOURCE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


def _source_name(value: str) -> str:
    if not _SOURCE_NAME.fullmatch(value):
        raise ValueError(
            f'invalid name "{value}": use 1 to 63 letters, digits, "_", "." or "-", '
            "starting with a letter or digit"
        )
    return value


TlsVersion = Literal["TLS10", "TLS11", "TLS12", "TLS13"]


class TlsConfig(Strict):
    """How to trust the upstream and prove who we are, as Prometheus' ``tls_config``: the
    files are read again when they change."""

    ca_file: PemPath | None = None  # trust only these CAs (else the system's)
    cert_file: PemPath | None = None  # a client certificate, with key_file
    key_file: PemPath | None = None
    server_name: str | None = Field(default=None, min_length=1)  # SNI and the name checked
    insecure_skip_verify: bool = False
    min_version: TlsVersion | None = None

    @model_validator(mode="after")
    def _pair(self) -> TlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together: set both or neither")
        return self


class RateLimit(Strict):
    """A token bucket shared by every upstream call of one source."""

    requests_per_second: float = Field(gt=0)
    burst: int = Field(default=1, ge=1)


class Polling(Strict):
    """How often each campaign is read, by its state (``adaptive: false``: all every
    ``poll_interval``). Running and overdue campaigns always use ``poll_interval``."""

    adaptive: bool = True
    settle_for: PositiveDuration = 3600.0
    settle_interval: PositiveDuration = 300.0
    idle_interval: PositiveDuration = 3600.0


class MetricSelection(Strict):
    """Which of a source's metric families are exported (``include`` only these, or all but
    ``exclude``), and how its state sets are: ``full``, a series for every documented state
    (0 but for the current one), or ``sparse``, the current state's series alone."""

    include: list[str] | None = Field(default=None, min_length=1)
    exclude: list[str] = Field(default_factory=list)
    state_sets: Literal["full", "sparse"] = "full"

    @model_validator(mode="after")
    def _one_list(self) -> MetricSelection:
        if self.include is not None and self.exclude:
            raise ValueError("set only one of include and exclude")
        return self

    def keeps(self, family: str) -> bool:
        return family in self.include if self.include is not None else family not in self.exclude


Ratio = Annotated[float, Field(gt=0, le=1)]
Count = Annotated[int, Field(ge=0)]


class AlertThresholds(Strict):
    """``thresholds:``, the alerts' thresholds the status page applies, by the keys of the
    mixin's config (prometheus/mixin.py) and with its defaults: set them as a mixin config
    does, and the page flags what the alerts page."""

    failure_ratio: Ratio = default.FAILURE_RATIO
    failure_ratio_min_records: Count = default.FAILURE_RATIO_MIN_RECORDS
    failure_ratio_completed_within: Duration = default.FAILURE_RATIO_COMPLETED_WITHIN
    send_overdue_after: Duration = default.SEND_OVERDUE_AFTER
    stalled_after: Duration = default.STALLED_AFTER
    bounce_rate: Ratio = default.BOUNCE_RATE
    bounce_rate_min_messages: Count = default.BOUNCE_RATE_MIN_MESSAGES
    falling_behind_poll_intervals: Count = default.FALLING_BEHIND_POLL_INTERVALS

    def in_force(self) -> default.Thresholds:
        return default.Thresholds(**{key: getattr(self, key) for key in type(self).model_fields})


CREDENTIALS = ("authorization", "oauth2", "basic_auth")  # the keys a source authenticates by
DEFAULT_CLASS = "default"  # the endpoint class of a vendor that limits all its endpoints alike


class SourceConfig(Strict):
    """What every source has, whatever its type."""

    # Every family a source of this type renders: each type's config names its own, so
    # that ``metrics`` can refuse a name no source of the type would ever export.
    metric_families: ClassVar[tuple[str, ...]] = ()
    # The classes of endpoints the vendor rate-limits on their own (``rate_limits`` keys).
    endpoint_classes: ClassVar[tuple[str, ...]] = (DEFAULT_CLASS,)

    name: Annotated[str, AfterValidator(_source_name)]
    type: str
    base_url: HttpUrl
    poll_interval: PositiveDuration = 30.0
    timeout: PositiveDuration = 10.0
    concurrency: int = Field(default=8, ge=1, le=256)
    rate_limit: RateLimit | None = None  # a ceiling over every request of the source
    rate_limits: dict[str, RateLimit] = Field(default_factory=dict)  # per endpoint class
    max_campaigns: int = Field(default=50_000, ge=1)
    retention: PositiveDuration = 7 * 86400.0
    # About 38x the largest legitimate answer (a report page of 500 campaigns with every
    # stats group is 434 KB): a bound on memory, never on a real page.
    max_response_size: ByteSize = 16 * 1024**2
    metrics: MetricSelection = Field(default_factory=MetricSelection)
    # How connections leave, with Prometheus' http_client_config keys: TLS, and a proxy
    # given, or taken from HTTP(S)_PROXY/NO_PROXY; the OAuth2 token endpoint uses them too.
    tls_config: TlsConfig | None = None
    proxy_url: ProxyUrlField | None = None
    no_proxy: str | None = None  # comma-separated hosts, domains, IPs and CIDRs
    proxy_from_environment: bool = False
    proxy_connect_header: dict[str, list[SecretStr]] | None = None

    @model_validator(mode="after")
    def _one_proxy(self) -> Self:
        if self.proxy_from_environment and (self.proxy_url or self.no_proxy):
            raise ValueError(
                "proxy_from_environment takes the proxy and no_proxy from the environment: "
                "set it, or proxy_url and no_proxy, not both"
            )
        if self.no_proxy and not self.proxy_url:
            raise ValueError("no_proxy needs proxy_url")
        if self.proxy_connect_header and not (self.proxy_url or self.proxy_from_environment):
            raise ValueError("proxy_connect_header needs proxy_url or proxy_from_environment")
        return self

    @model_validator(mode="after")
    def _known_classes(self) -> Self:
        errors: list[InitErrorDetails] = []
        for name in self.rate_limits:
            if name not in self.endpoint_classes:
                problem = f'unknown endpoint class "{name}": a {self.type} source has ' + ", ".join(
                    self.endpoint_classes
                )
                error = PydanticCustomError("value_error", "{problem}", {"problem": problem})
                errors.append(InitErrorDetails(type=error, loc=("rate_limits", name), input=name))
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self

    @model_validator(mode="after")
    def _known_families(self) -> Self:
        """One error per unknown name, at its own key (``metrics.exclude[2]``)."""
        errors: list[InitErrorDetails] = []
        for key in ("include", "exclude"):
            for i, name in enumerate(getattr(self.metrics, key) or ()):
                if name in self.metric_families:
                    continue
                problem = unknown_family(name, self.type, self.metric_families)
                error = PydanticCustomError("value_error", "{problem}", {"problem": problem})
                errors.append(InitErrorDetails(type=error, loc=("metrics", key, i), input=name))
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self

    @field_validator("timeout")
    @classmethod
    def _timeout_within_interval(cls, value: float, info: ValidationInfo) -> float:
        interval = info.data.get("poll_interval")  # absent when it was invalid itself
        if interval is not None and value > interval:
            raise ValueError(
                f"{format_duration(value)} is longer than poll_interval "
                f"({format_duration(interval)}): one slow request would hold up the next refresh"
            )
        return value

    def same_books(self, other: SourceConfig) -> bool:
        """Whether a source with config ``other`` reads the same campaigns as this one, so
        what it learned stays true: same name, type, base_url and credentials."""
        return (self.name, self.type, self.base_url) == (
            other.name,
            other.type,
            other.base_url,
        ) and all(getattr(self, key, None) == getattr(other, key, None) for key in CREDENTIALS)

    def secret_files(self) -> list[tuple[str, Path]]:
        """Every ``*_file`` secret path in this config, with its key path."""
        found: list[tuple[str, Path]] = []
        _collect_files(self, "", found)
        return found


def unknown_family(name: str, type_name: str, families: tuple[str, ...]) -> str:
    """The problem with a family name no source of ``type_name`` has, with the names
    closest to it."""
    within = [family for family in families if name in family]  # e.g. without its prefix
    near = list(dict.fromkeys(within + difflib.get_close_matches(name, families, cutoff=0.6)))
    near = near[:3]
    hint = (
        f"did you mean {', '.join(near)}?"
        if near
        else "see the README's metric reference for the families"
    )
    return f'unknown metric family "{name}" for type {type_name} ({hint})'


def _collect_files(model: BaseModel, prefix: str, found: list[tuple[str, Path]]) -> None:
    for key in type(model).model_fields:
        value: Any = getattr(model, key)
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, TlsConfig):
            continue  # PEM files, not credentials: checked as TLS material (egress)
        if isinstance(value, BaseModel):
            _collect_files(value, path, found)
        elif key.endswith("_file") and isinstance(value, Path):
            found.append((path, value))
