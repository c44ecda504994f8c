"""Authorization headers for upstream calls: static, Basic, OAuth2 client credentials."""

from __future__ import annotations

import base64
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable

import anyio

from .schema import Authorization, BasicAuth, OAuth2
from .secrets import Secret, SecretFileError, SecretRef
from .upstream import UpstreamClient, UpstreamError

TOKEN_ENDPOINT = "oauth_token"  # noqa: S105 - an endpoint label, not a password
REFRESH_MARGIN = 60.0
DEFAULT_TOKEN_LIFETIME = 300.0
# expires_in is clamped: a tiny one would fetch a token for nearly every call, a huge one
# would keep a token for ever. The floor caps token requests near one a second per source
# and still honours real short-lived tokens; a token claiming to outlive a day is fetched
# again daily all the same.
MIN_TOKEN_LIFETIME = 1.0
MAX_TOKEN_LIFETIME = 86400.0


class AuthError(Exception):
    """Credentials could not be had; the message never holds a credential."""


class AuthProvider(ABC):
    @abstractmethod
    async def header(self, client: UpstreamClient) -> str:
        """The value of the ``Authorization`` header."""

    def invalidate(self, header: str) -> bool:
        """Forget the token behind ``header`` after a 401; True when asking again may help."""
        return False


async def _read(ref: SecretRef) -> Secret:
    try:
        return await ref.get()
    except SecretFileError as exc:
        raise AuthError(f"cannot read the secret file {exc}") from None


class StaticAuth(AuthProvider):
    """``<type> <credentials>``, the credentials re-read when their file changes."""

    def __init__(self, auth_type: str, secret: SecretRef) -> None:
        self.auth_type = auth_type
        self.secret = secret

    async def header(self, client: UpstreamClient) -> str:
        return f"{self.auth_type} {(await _read(self.secret)).reveal()}"


class BasicAuthProvider(AuthProvider):
    def __init__(self, username: str, secret: SecretRef) -> None:
        self.username = username
        self.secret = secret

    async def header(self, client: UpstreamClient) -> str:
        raw = f"{self.username}:{(await _read(self.secret)).reveal()}".encode()
        return "Basic " + base64.b64encode(raw).decode()


class OAuth2Provider(AuthProvider):
    """Client-credentials grant; the token is kept until shortly before it expires.

    ``clock`` is a monotonic clock in seconds (injectable for tests).
    """

    def __init__(self, config: OAuth2, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self.secret = config.secret()
        self.token: Secret | None = None
        self.expires = 0.0
        self.lock = anyio.Lock()

    def invalidate(self, header: str) -> bool:
        if self.token is not None and header == f"Bearer {self.token.reveal()}":
            self.token = None
        return True

    async def header(self, client: UpstreamClient) -> str:
        async with self.lock:
            if self.token is None or self.clock() >= self.expires:
                await self._fetch(client)
            assert self.token is not None
            return f"Bearer {self.token.reveal()}"

    async def _fetch(self, client: UpstreamClient) -> None:
        form = {"grant_type": "client_credentials", **self.config.endpoint_params}
        if self.config.scopes:
            form["scope"] = " ".join(self.config.scopes)
        basic = f"{self.config.client_id}:{(await _read(self.secret)).reveal()}".encode()
        try:
            resp = await client.request(
                "POST",
                self.config.token_url,
                TOKEN_ENDPOINT,
                headers={"Authorization": "Basic " + base64.b64encode(basic).decode()},
                data=form,
            )
        except UpstreamError as exc:
            raise AuthError(f"OAuth2 token request failed: {exc.detail}") from None
        body = resp.body
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise AuthError("OAuth2 token response has no access_token")
        lifetime = token_lifetime(body.get("expires_in") if isinstance(body, dict) else None)
        margin = min(REFRESH_MARGIN, lifetime * 0.1)
        self.token = Secret(token)
        self.expires = self.clock() + lifetime - margin


def token_lifetime(expires_in: object) -> float:
    """Seconds a token may be used: ``expires_in`` clamped, or the default when it is no
    positive finite number (JSON parsers accept NaN, Infinity and 400-digit integers)."""
    if not isinstance(expires_in, (int, float)) or isinstance(expires_in, bool):
        return DEFAULT_TOKEN_LIFETIME
    if expires_in != expires_in or expires_in <= 0 or expires_in == math.inf:  # NaN != NaN
        return DEFAULT_TOKEN_LIFETIME
    if expires_in >= MAX_TOKEN_LIFETIME:  # compared before any float(): no overflow
        return MAX_TOKEN_LIFETIME
    return max(float(expires_in), MIN_TOKEN_LIFETIME)


def provider_for(
    authorization: Authorization | None,
    oauth2: OAuth2 | None = None,
    basic_auth: BasicAuth | None = None,
) -> AuthProvider:
    if oauth2 is not None:
        return OAuth2Provider(oauth2)
    if basic_auth is not None:
        return BasicAuthProvider(basic_auth.username, basic_auth.secret())
    assert authorization is not None
    return StaticAuth(authorization.type, authorization.secret())
