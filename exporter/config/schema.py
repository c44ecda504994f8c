"""Field types and models shared by every source's config schema.

These only describe the YAML; ``exporter.config.loader`` loads a file through them.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self
from urllib.parse import unquote, urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

from . import thresholds as default
from .secrets import Secret, SecretRef

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_PLAIN_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_UNIT_SECONDS = {
    "ms": 0.001,
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86400,
    "w": 7 * 86400,
    "y": 365 * 86400,
}


def parse_duration(value: object) -> float:
    """A Prometheus-style duration (``90s``, ``1h30m``, ``7d``) in seconds; a plain number
    is seconds, also as a string (``"30"``, what ``${POLL}`` with ``POLL=30`` gives)."""
    if isinstance(value, bool):
        raise ValueError("invalid duration: expected a string like 30s, 5m or 1h30m")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError("invalid duration: must be a finite number")
        if value < 0:
            raise ValueError("invalid duration: must not be negative")
        return float(value)
    if not isinstance(value, str):
        raise ValueError("invalid duration: expected a string like 30s, 5m or 1h30m")
    text = value.strip()
    if _PLAIN_NUMBER.fullmatch(text):
        return float(text)
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if not text or pos != len(text):
        raise ValueError(f'invalid duration "{value}": expected a string like 30s, 5m or 1h30m')
    return total


def format_duration(seconds: float) -> str:
    """The duration in the largest whole unit that reads back as exactly ``seconds``."""
    for unit in ("d", "h", "m", "s", "ms"):
        count = round(seconds / _UNIT_SECONDS[unit])
        text = f"{count}{unit}"
        if count >= 1 and parse_duration(text) == seconds:
            return text
    # Decimal, not float formatting: never an exponent, which the parser would refuse.
    return f"{Decimal(repr(seconds)).normalize():f}s"


def _positive(value: float) -> float:
    if value <= 0:
        raise ValueError("must be greater than zero")
    return value


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string"}),
]
PositiveDuration = Annotated[Duration, BeforeValidator(lambda v: _positive(parse_duration(v)))]


_SIZE = re.compile(r"(\d+)\s*(B|KiB|MiB|GiB|kB|KB|MB|GB)?")
_UNIT_BYTES = {
    None: 1,
    "B": 1,
    "KiB": 1024,
    "MiB": 1024**2,
    "GiB": 1024**3,
    "kB": 1000,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
}


def parse_size(value: object) -> int:
    """A size in bytes: a number, or a string like ``16MiB`` or ``500KB``."""
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    elif isinstance(value, str) and (match := _SIZE.fullmatch(value.strip())):
        size = int(match.group(1)) * _UNIT_BYTES[match.group(2)]
    else:
        raise ValueError(f'invalid size "{value}": expected bytes or a string like 16MiB')
    if size < 1024:
        raise ValueError("must be at least 1KiB")
    return size


def format_size(size: int) -> str:
    for unit in ("GiB", "MiB", "KiB"):
        if size % _UNIT_BYTES[unit] == 0:
            return f"{size // _UNIT_BYTES[unit]}{unit}"
    return str(size)


ByteSize = Annotated[
    int,
    BeforeValidator(parse_size),
    PlainSerializer(format_size, return_type=str),
    WithJsonSchema({"type": "string"}),
]


def quote_hint(value: object) -> str:
    """For a string key given an unquoted scalar YAML reads as another type: how to keep
    it a string (the value is not repeated: YAML may have read ``0755`` as 493)."""
    if isinstance(value, bool):
        return " (YAML reads it as true or false: put the value in quotes)"
    if isinstance(value, int | float):
        return " (YAML reads it as a number: put the value in quotes)"
    return ""


def _to_secret(value: object) -> Secret:
    if isinstance(value, Secret):
        return value
    if not isinstance(value, str) or not value:
        raise ValueError("expected a non-empty string" + quote_hint(value))
    return Secret(value)


# The keys whose values are credentials: messages about them never quote their value.
SECRET_KEYS = frozenset(
    {"credentials", "client_secret", "password", "proxy_url", "proxy_connect_header"}
)

SecretStr = Annotated[
    Secret,
    PlainValidator(_to_secret),
    PlainSerializer(lambda _: "<secret>", return_type=str),
    WithJsonSchema({"type": "string"}),
]


def _http_url(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a URL string")
    parts = urlsplit(value)
    # before any message quotes the URL
    if parts.username or parts.password:
        raise ValueError("credentials in the URL are not allowed: use the auth settings")
    if any(c.isspace() for c in value):
        raise ValueError(f'invalid URL "{value}": it contains whitespace')
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f'invalid URL "{value}": expected http:// or https:// and a host')
    if parts.query or parts.fragment:
        raise ValueError(f'invalid URL "{value}": no query or fragment allowed')
    return value.rstrip("/")


HttpUrl = Annotated[str, BeforeValidator(_http_url)]


@dataclass(frozen=True, slots=True, repr=False)
class ProxyUrl:
    """An HTTP proxy's URL; a user and password in it are a credential: its str and repr
    show ``<secret>`` for the password, only ``address`` and ``password`` give them."""

    address: str  # scheme, host and port, nothing else
    username: str | None = None
    password: Secret | None = None

    def __repr__(self) -> str:
        if self.username is None:
            return self.address
        scheme, _, rest = self.address.partition("://")
        return f"{scheme}://{self.username}:<secret>@{rest}"

    __str__ = __repr__


# The proxy schemes the upstream client can use (aiohttp speaks HTTP to a proxy, CONNECT
# for https targets); socks and TLS to the proxy itself it cannot.
PROXY_SCHEMES = ("http",)


def parse_proxy_url(value: object) -> ProxyUrl:
    """A proxy URL from the config or the environment; the message never quotes it."""
    if isinstance(value, ProxyUrl):
        return value
    if not isinstance(value, str) or not value:
        raise ValueError("expected a URL string like http://proxy.example:3128")
    if any(c.isspace() for c in value):
        raise ValueError("the URL contains whitespace")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ValueError("not a valid URL (expected http://host:port)") from None
    # never quote the URL itself: it may carry the proxy's password
    if parts.scheme not in PROXY_SCHEMES:
        raise ValueError(
            f'proxy scheme "{parts.scheme}" is not supported: the upstream client speaks '
            "to an HTTP proxy only (http://host:port)"
        )
    if not parts.hostname:
        raise ValueError("expected http://host:port")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("expected http://host:port, with no path, query or fragment")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    address = f"{parts.scheme}://{host}" + (f":{port}" if port else "")
    password = Secret(unquote(parts.password)) if parts.password else None
    username = unquote(parts.username) if parts.username is not None else None
    return ProxyUrl(address, username, password)


ProxyUrlField = Annotated[
    ProxyUrl,
    PlainValidator(parse_proxy_url),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string"}),
]


class Strict(BaseModel):
    """Unknown keys fail the load; loaded values never change."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


def one_of(model: BaseModel, value_key: str, file_key: str, *, required: bool = True) -> None:
    has_value = getattr(model, value_key) is not None
    has_file = getattr(model, file_key) is not None
    if has_value and has_file:
        raise ValueError(f"set only one of {value_key} and {file_key}")
    if required and not (has_value or has_file):
        raise ValueError(f"one of {value_key} or {file_key} is required")


def _nonempty_path(what: str) -> Callable[[object], object]:
    def check(value: object) -> object:
        if isinstance(value, str) and not value.strip():
            raise ValueError(f"must not be empty: the path of {what}")
        return value

    return check


# A ``*_file`` key: the path of a file holding a credential, read again when it changes.
SecretPath = Annotated[Path, BeforeValidator(_nonempty_path("a file holding the secret"))]


def secret_ref(value: Secret | None, path: Path | None, key: str) -> SecretRef:
    """``key`` names the file's config key in errors (the sources use one key per section)."""
    return SecretRef(inline=value) if value is not None else SecretRef(path=path, key=key)


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


PemPath = Annotated[Path, BeforeValidator(_nonempty_path("a PEM file"))]


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
