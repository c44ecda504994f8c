"""The field types every config format here builds on: durations, sizes, URLs, a proxy's
URL, credentials and the paths of the files holding them, and ``Strict``, the base model
whose unknown keys fail the load. Each parses and renders back its YAML form; the models
made of them are in ``schema`` (the sources) and ``exporter.http.webconfig``."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated
from urllib.parse import unquote, urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
)

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
# A ``tls_config`` file: a certificate, key or CA bundle in PEM, also read again on change.
PemPath = Annotated[Path, BeforeValidator(_nonempty_path("a PEM file"))]


def secret_ref(value: Secret | None, path: Path | None, key: str) -> SecretRef:
    """``key`` names the file's config key in errors (the sources use one key per section)."""
    return SecretRef(inline=value) if value is not None else SecretRef(path=path, key=key)
