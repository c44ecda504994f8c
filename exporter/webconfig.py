"""``--web.config.file``: TLS, client certificates, basic auth and headers, in the
exporter-toolkit format that Prometheus' own exporters read.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Literal

import anyio
import bcrypt
import yaml
from aiohttp import web
from aiohttp.typedefs import Middleware
from pydantic import Field, ValidationError, field_validator, model_validator

from .config import ConfigError, key_path, validation_lines
from .schema import Strict

ClientAuth = Literal[
    "NoClientCert",
    "VerifyClientCertIfGiven",
    "RequireAndVerifyClientCert",
]
TLSVersion = Literal["TLS10", "TLS11", "TLS12", "TLS13"]
_TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
_BCRYPT_ALPHABET = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
# Which dummy cost a made-up user name gets: keyed, so nobody can predict it.
_NAME_KEY = secrets.token_bytes(32)
REALM = 'Basic realm="campaign-exporter", charset="UTF-8"'


class TLSServerConfig(Strict):
    cert_file: Path
    key_file: Path
    client_auth_type: ClientAuth = "NoClientCert"
    client_ca_file: Path | None = None
    min_version: TLSVersion = "TLS12"
    max_version: TLSVersion = "TLS13"

    @model_validator(mode="after")
    def _ca_when_verifying(self) -> TLSServerConfig:
        if self.client_auth_type != "NoClientCert" and self.client_ca_file is None:
            raise ValueError(f"client_auth_type {self.client_auth_type} needs client_ca_file")
        return self


class HTTPServerConfig(Strict):
    headers: dict[str, str] = Field(default_factory=dict)
    http2: bool = True  # accepted for compatibility; this server speaks HTTP/1.1


class WebConfig(Strict):
    tls_server_config: TLSServerConfig | None = None
    basic_auth_users: dict[str, str] = Field(default_factory=dict)
    http_server_config: HTTPServerConfig = Field(default_factory=HTTPServerConfig)

    @field_validator("basic_auth_users")
    @classmethod
    def _hashes_are_bcrypt(cls, users: dict[str, str]) -> dict[str, str]:
        for user, hashed in users.items():
            if not re.fullmatch(r"\$2[aby]\$\d\d\$.{53}", hashed):
                raise ValueError(f'the password of "{user}" is not a bcrypt hash')
        return users


def load_web_config(path: Path) -> WebConfig:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([f"{path}: file not found"]) from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError([f"{path}: cannot read: {type(exc).__name__}"]) from None
    try:
        config = WebConfig.model_validate(raw or {})
    except ValidationError as exc:
        raise ConfigError(validation_lines(exc, ())) from None
    tls = config.tls_server_config
    if tls is not None:
        for key in ("cert_file", "key_file", "client_ca_file"):
            file = getattr(tls, key)
            if file is not None and not file.is_file():
                raise ConfigError(
                    [f"{key_path(('tls_server_config', key))}: file not found: {file}"]
                )
        try:
            ssl_context(tls)
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(
                [f"tls_server_config: cannot load the certificate or key: {exc.__class__.__name__}"]
            ) from None
    return config


def ssl_context(tls: TLSServerConfig) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = _TLS_VERSIONS[tls.min_version]
    ctx.maximum_version = _TLS_VERSIONS[tls.max_version]
    ctx.load_cert_chain(tls.cert_file, tls.key_file)
    if tls.client_ca_file is not None:
        ctx.load_verify_locations(cafile=str(tls.client_ca_file))
    ctx.verify_mode = {
        "NoClientCert": ssl.CERT_NONE,
        "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
        "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
    }[tls.client_auth_type]
    return ctx


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def dummy_hash(cost: int) -> bytes:
    """A well-formed bcrypt hash that no password matches (its digest is random); checking a
    password against it takes as long as against a real hash of the same cost."""
    digest = "".join(secrets.choice(_BCRYPT_ALPHABET) for _ in range(31))
    return bcrypt.gensalt(cost) + digest.encode()


class BasicAuthGate:
    """Checks ``Authorization: Basic`` against bcrypt hashes, off the event loop.

    A name that is not a user is checked against a dummy hash of a cost one of the users
    has, so a wrong name takes as long to refuse as a wrong password: with a fixed-cost
    dummy, users whose hash has another cost would show by timing.

    A successful check is remembered (keyed by a hash of the credentials and the stored
    hash) so a scraping Prometheus does not pay bcrypt's cost on every scrape.
    """

    def __init__(self, users: dict[str, str]) -> None:
        self.users = {u: h.encode() for u, h in users.items()}
        self.costs = sorted(int(h.split("$")[2]) for h in users.values())
        self.dummies = {cost: dummy_hash(cost) for cost in set(self.costs)}
        self.verified: set[bytes] = set()

    def _key(self, user: str, password: bytes, hashed: bytes) -> bytes:
        return hashlib.sha256(user.encode() + b"\0" + password + b"\0" + hashed).digest()

    def hash_for(self, user: str) -> bytes:
        hashed = self.users.get(user)
        if hashed is not None:
            return hashed
        # With mixed costs, made-up names follow the users' own mix of costs, each name
        # always the same cost, so timing a name does not tell whether it is a user.
        digest = hmac.digest(_NAME_KEY, user.encode(), "sha256")
        return self.dummies[self.costs[int.from_bytes(digest[:8], "big") % len(self.costs)]]

    async def allowed(self, header: str | None) -> bool:
        user, password = _basic(header)
        hashed = self.hash_for(user)
        key = self._key(user, password, hashed)
        if key in self.verified:
            return user in self.users
        ok = await anyio.to_thread.run_sync(_checkpw, password, hashed)
        ok = ok and user in self.users
        if ok:
            self.verified.add(key)
        return ok


def _checkpw(password: bytes, hashed: bytes) -> bool:
    try:
        return bcrypt.checkpw(password, hashed)
    except ValueError:
        return False


def _basic(header: str | None) -> tuple[str, bytes]:
    if not header or not header.startswith("Basic "):
        return "", b""
    try:
        raw = base64.b64decode(header[6:].strip(), validate=True)
    except (binascii.Error, ValueError):
        return "", b""
    user, _, password = raw.partition(b":")
    return user.decode("utf-8", "replace"), password


def middlewares(config: WebConfig) -> list[Middleware]:
    out: list[Middleware] = []
    headers = dict(config.http_server_config.headers)
    if config.basic_auth_users:
        gate = BasicAuthGate(config.basic_auth_users)

        @web.middleware
        async def basic_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
            if not await gate.allowed(request.headers.get("Authorization")):
                return web.Response(
                    status=401,
                    text="Unauthorized\n",
                    headers={"WWW-Authenticate": REALM, **headers},
                )
            return await handler(request)

        out.append(basic_auth)
    if headers:

        @web.middleware
        async def add_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
            resp = await handler(request)
            for name, value in headers.items():
                resp.headers[name] = value
            return resp

        out.insert(0, add_headers)
    return out
