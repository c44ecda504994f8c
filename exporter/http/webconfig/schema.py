"""The web config file's format: exporter-toolkit's keys, read as its Go YAML library reads
them (string fields keep a scalar's text, so ``X-XSS-Protection: 0`` is the string ``0``),
with the toolkit's checks on names, header values and bcrypt hashes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import bcrypt
import yaml
from pydantic import BeforeValidator, Field, ValidationError, field_validator

from ...config.errors import ConfigError, validation_lines
from ...config.secrets import Secret
from ...config.types import Strict
from ...config.yamlfile import BoundedLoader, parse_yaml

# Go name -> OpenSSL name, for the suites Go's tls.CipherSuites() lists (the toolkit
# refuses any other name). TLS 1.3 suites map to None: neither Go nor Python's ssl lets a
# server choose them, so they are accepted and change nothing.
CIPHER_SUITES: dict[str, str | None] = {
    "TLS_AES_128_GCM_SHA256": None,
    "TLS_AES_256_GCM_SHA384": None,
    "TLS_CHACHA20_POLY1305_SHA256": None,
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
}
# Go name -> the name Python's SSLContext.set_ecdh_curve takes.
CURVES = {
    "CurveP256": "prime256v1",
    "CurveP384": "secp384r1",
    "CurveP521": "secp521r1",
    "X25519": "X25519",
}
TLS_VERSIONS = ("TLS10", "TLS11", "TLS12", "TLS13")
# The client_auth_type values served, and those refused with the reason.
CLIENT_AUTH_TYPES = ("NoClientCert", "VerifyClientCertIfGiven", "RequireAndVerifyClientCert")
_UNVERIFIED = (
    "is not supported: Python's ssl module cannot accept a client certificate without "
    "verifying it; use RequireAndVerifyClientCert with client_ca_file"
)
_UNSUPPORTED_CLIENT_AUTH = {
    "RequestClientCert": _UNVERIFIED,
    "RequireAnyClientCert": _UNVERIFIED,
    "RequireClientCert": _UNVERIFIED,  # the toolkit's old name for RequireAnyClientCert
}
# The only response headers the toolkit lets a web config set, and their allowed values
# (None: any value).
HEADER_VALUES: dict[str, tuple[str, ...] | None] = {
    "Content-Security-Policy": None,
    "Strict-Transport-Security": None,
    "X-Content-Type-Options": ("nosniff",),
    "X-Frame-Options": ("deny", "sameorigin"),
    "X-XSS-Protection": None,
}
_BCRYPT = re.compile(r"\$2[abxy]\$(\d\d)\$.{53}", re.DOTALL)


class _Scalar(str):
    """A plain YAML scalar that YAML 1.1 reads as a bool, number or date: its text, as Go
    gives a string field, and the ``value`` a bool or integer field gets."""

    value: object


class _GoYamlLoader(BoundedLoader):
    """The config's bounded safe loader, with Go's yaml.v2 strictness about repeated keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                if key_node.value in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f'key "{key_node.value}" is repeated', key_node.start_mark
                    )
                seen.add(key_node.value)
        return {
            ("" if k is None else str(k)): v
            for k, v in super().construct_mapping(node, deep).items()
        }


def _keep_text(tag: str) -> None:
    typed = yaml.SafeLoader.yaml_constructors[tag]

    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> _Scalar:
        scalar = _Scalar(node.value)
        scalar.value = typed(loader, node)
        return scalar

    _GoYamlLoader.add_constructor(tag, construct)


for _tag in ("bool", "int", "float", "timestamp"):
    _keep_text(f"tag:yaml.org,2002:{_tag}")


def _go_string(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int | float):  # a value built in Python rather than read from YAML
        return str(value)
    raise ValueError("must be a string")


def _go_bool(value: object) -> bool:
    if value is None:
        return False
    plain = value.value if isinstance(value, _Scalar) else value
    if isinstance(plain, bool):
        return plain
    raise ValueError("must be true or false")


def _go_int(value: object) -> int:
    if value is None:
        return 0
    plain = value.value if isinstance(value, _Scalar) else value
    if isinstance(plain, int) and not isinstance(plain, bool):
        return plain
    raise ValueError("must be an integer")


_GO_DURATION_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_GO_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def parse_go_duration(value: object) -> float:
    """Seconds from a Go duration (``500ms``, ``1m30s``); a YAML number is nanoseconds."""
    if value is None:
        return 0.0
    plain = value.value if isinstance(value, _Scalar) else value
    if isinstance(plain, int | float) and not isinstance(plain, bool):
        return int(plain) / 1e9
    if not isinstance(plain, str):
        raise ValueError("must be a duration such as 500ms, 1s or 1m30s")
    text = plain.lstrip("+-")
    sign = -1.0 if plain.startswith("-") else 1.0
    if text == "0":
        return 0.0
    pos, total = 0, 0.0
    for match in _GO_DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _GO_UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if not text or pos != len(text):
        raise ValueError(
            f'invalid duration "{plain}": expected a Go duration such as 500ms, 1s or 1m30s'
            " (units ns, us, ms, s, m, h)"
        )
    return sign * total


def _go_secret(value: object) -> Secret | None:
    text = _go_string(value)
    return Secret(text) if text else None


def _one_of(names: tuple[str, ...]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _known(kind: str, names: tuple[str, ...], expected: str | None = None) -> Any:
    def check(value: object) -> str:
        text = _go_string(value)
        if text not in names:
            raise ValueError(f'unknown {kind} "{text}": expected {expected or _one_of(names)}')
        return text

    return BeforeValidator(check)


def _section(value: object) -> object:
    return {} if value is None else value


GoStr = Annotated[str, BeforeValidator(_go_string)]
GoBool = Annotated[bool, BeforeValidator(_go_bool)]
GoInt = Annotated[int, BeforeValidator(_go_int)]
GoDuration = Annotated[float, BeforeValidator(parse_go_duration)]
GoSecret = Annotated[Secret | None, BeforeValidator(_go_secret)]
CipherSuite = Annotated[
    str,
    _known(
        "cipher suite",
        tuple(CIPHER_SUITES),
        "a name from Go's tls.CipherSuites(), such as TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    ),
]
Curve = Annotated[str, _known("curve", tuple(CURVES))]
TLSVersion = Annotated[str, _known("TLS version", TLS_VERSIONS)]


class TLSServerConfig(Strict):
    """``tls_server_config``: an empty string is the same as a missing key, as in Go."""

    cert: GoStr = ""
    key: GoSecret = None
    client_ca: GoStr = ""
    cert_file: GoStr = ""
    key_file: GoStr = ""
    client_auth_type: GoStr = ""
    client_ca_file: GoStr = ""
    client_allowed_sans: list[GoStr] | None = None
    min_version: TLSVersion = "TLS12"
    max_version: TLSVersion = "TLS13"
    cipher_suites: list[CipherSuite] | None = None
    prefer_server_cipher_suites: GoBool = True
    curve_preferences: list[Curve] | None = None

    @field_validator("client_auth_type")
    @classmethod
    def _served_client_auth(cls, value: str) -> str:
        if value in _UNSUPPORTED_CLIENT_AUTH:
            raise ValueError(f"{value} {_UNSUPPORTED_CLIENT_AUTH[value]}")
        if value and value not in CLIENT_AUTH_TYPES:
            raise ValueError(f'unknown value "{value}": expected {_one_of(CLIENT_AUTH_TYPES)}')
        return value

    @property
    def client_auth(self) -> str:
        return self.client_auth_type or "NoClientCert"

    @property
    def enabled(self) -> bool:
        """TLS is on once any certificate, key, CA or client policy is set (the toolkit's
        ``IsEnabled``); versions, suites and curves alone leave plain HTTP."""
        return bool(
            self.cert
            or self.key is not None
            or self.client_ca
            or self.cert_file
            or self.key_file
            or self.client_ca_file
            or self.client_auth_type
        )

    def path(self, key: str, base: Path) -> Path | None:
        """A ``*_file`` key's path, relative paths taken from the web config's directory."""
        value: str = getattr(self, key)
        return base / value if value else None


class HTTPServerConfig(Strict):
    # Accepted for compatibility: this server speaks HTTP/1.1 only.
    http2: GoBool = True
    headers: Annotated[dict[str, GoStr], BeforeValidator(_section)] = Field(default_factory=dict)

    @field_validator("headers")
    @classmethod
    def _toolkit_headers(cls, headers: dict[str, str]) -> dict[str, str]:
        for name, value in headers.items():
            if name not in HEADER_VALUES:
                raise ValueError(
                    f'header "{name}" cannot be set: only {_one_of(tuple(HEADER_VALUES))} can'
                )
            allowed = HEADER_VALUES[name]
            if allowed is not None and value not in allowed:
                expected = _one_of(tuple(f'"{a}"' for a in allowed))
                raise ValueError(f'{name} must be {expected}, not "{value}"')
        return headers


class RateLimitConfig(Strict):
    """Every request takes a token; a token comes back every ``interval``, up to ``burst``."""

    interval: GoDuration = 0.0
    burst: GoInt = 0


class WebConfig(Strict):
    tls_server_config: Annotated[TLSServerConfig, BeforeValidator(_section)] = Field(
        default_factory=TLSServerConfig
    )
    http_server_config: Annotated[HTTPServerConfig, BeforeValidator(_section)] = Field(
        default_factory=HTTPServerConfig
    )
    basic_auth_users: Annotated[dict[str, GoStr], BeforeValidator(_section)] = Field(
        default_factory=dict
    )
    rate_limit: Annotated[RateLimitConfig, BeforeValidator(_section)] = Field(
        default_factory=RateLimitConfig
    )

    @field_validator("basic_auth_users")
    @classmethod
    def _hashes_are_bcrypt(cls, users: dict[str, str]) -> dict[str, str]:
        for user, hashed in users.items():
            problem = bcrypt_problem(hashed)
            if problem:
                raise ValueError(f'the password of "{user}" {problem}')
        return users


def bcrypt_cost(hashed: str) -> int:
    match = _BCRYPT.fullmatch(hashed)
    assert match is not None, "checked when the config was loaded"
    return int(match.group(1))


def bcrypt_problem(hashed: str) -> str | None:
    """Why the hash cannot be checked, or None. The bcrypt library itself judges the salt,
    at cost 4 so that a cost-18 hash does not take seconds to load."""
    match = _BCRYPT.fullmatch(hashed)
    if match is None:
        return "is not a bcrypt hash ($2a$, $2b$, $2x$ or $2y$, 60 characters)"
    cost = int(match.group(1))
    if not 4 <= cost <= 31:
        return f"has bcrypt cost {cost}: bcrypt costs go from 4 to 31"
    try:
        bcrypt.checkpw(b"", (hashed[:4] + "04" + hashed[6:]).encode())
    except ValueError:
        return "is not a bcrypt hash (its salt does not decode)"
    return None


def parse_web_config(text: str) -> WebConfig:
    raw = parse_yaml(text, _GoYamlLoader)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(["(top level): must be a mapping of web settings"])
    try:
        return WebConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(validation_lines(exc, ())) from None
