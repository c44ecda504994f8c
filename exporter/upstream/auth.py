"""Authorization headers for upstream calls: static, Basic, OAuth2 client credentials; the
OAuth2 token requests authlib makes go through the source's own ``UpstreamClient``."""

from __future__ import annotations

import base64
import math
from abc import ABC, abstractmethod
from urllib.parse import parse_qsl, urlencode

import anyio
import httpx2
from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError
from authlib.oauth2.rfc6749 import OAuth2Token

from ..config.schema import Authorization, BasicAuth, OAuth2
from ..config.secrets import Secret, SecretFileError, SecretRef
from .client import DEFAULT_HEADERS, UpstreamClient
from .failures import UpstreamError, credential_values
from .untrusted import clean_text, scrub

TOKEN_ENDPOINT = "oauth_token"  # noqa: S105 - an endpoint label, not a password
REFRESH_MARGIN = 60.0
DEFAULT_TOKEN_LIFETIME = 300.0
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
        raise AuthError(f"cannot read secret file {exc}") from None


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
    """Client-credentials grant, done by authlib: it builds the token request (the client
    authenticated by HTTP Basic or by form fields), reads the answer and keeps the token
    with its expiry. The token is fetched again shortly before it expires, and after a
    401. Token requests go through the source's UpstreamClient (``_ThroughClient``), so
    they are paced, retried, size-capped, counted and scrubbed like every other call."""

    def __init__(self, config: OAuth2) -> None:
        self.config = config
        self.secret = config.secret()
        self.session: AsyncOAuth2Client | None = None
        self.bound: UpstreamClient | None = None
        self.lock = anyio.Lock()

    def invalidate(self, header: str) -> bool:
        session = self.session
        if session is not None and session.token and header == _bearer(session.token):
            session.token = None
        return True

    async def header(self, client: UpstreamClient) -> str:
        async with self.lock:
            session = self._session(client)
            token = session.token
            if not token or token.is_expired(leeway=_early_by(token)):
                token = await self._fetch(session)
            return _bearer(token)

    def _session(self, client: UpstreamClient) -> AsyncOAuth2Client:
        if self.session is None or self.bound is not client:
            session = AsyncOAuth2Client(
                client_id=self.config.client_id,
                token_endpoint_auth_method=self.config.client_auth_method,
                scope=" ".join(self.config.scopes) or None,
                transport=_ThroughClient(client, TOKEN_ENDPOINT, TOKEN_ENDPOINT),
                headers=DEFAULT_HEADERS,
                trust_env=False,
            )
            session.register_compliance_hook("access_token_response", _sane_lifetime)
            self.session, self.bound = session, client
        return self.session

    async def _fetch(self, session: AsyncOAuth2Client) -> OAuth2Token:
        secret = (await _read(self.secret)).reveal()
        session.client_secret = secret  # a rotated secret file counts from the next token
        try:
            token = await session.fetch_token(
                self.config.token_url,
                body=urlencode(self.config.endpoint_params),
                grant_type="client_credentials",
            )
        except UpstreamError as exc:
            raise AuthError(f"OAuth2 token request failed: {exc.detail}") from None
        except OAuthError as exc:
            code = clean_text(str(exc.error), 64)
            raise AuthError(f"OAuth2 token endpoint refused: {scrub(code, [secret])}") from None
        except (ValueError, TypeError, LookupError, OverflowError) as exc:
            session.token = None
            raise AuthError(f"OAuth2 token response unreadable: {type(exc).__name__}") from None
        access = token.get("access_token") if isinstance(token, dict) else None
        if not isinstance(access, str) or not access:
            session.token = None
            raise AuthError("OAuth2 token response has no access_token")
        result: OAuth2Token = token
        return result


# Set by the transport for the body it sends, or describing a body already decoded.
_REQUEST_ONLY = frozenset({"host", "content-length", "transfer-encoding", "accept-encoding"})
_DECODED = frozenset({"content-encoding", "content-length", "transfer-encoding"})


class _ThroughClient(httpx2.AsyncBaseTransport):
    """An httpx transport that sends through an ``UpstreamClient``, for authlib: its calls
    get the same pacing, retries, size cap, redirect rule, counting and error reasons as
    the source's own."""

    def __init__(self, client: UpstreamClient, endpoint: str, endpoint_class: str) -> None:
        self.client = client
        self.endpoint = endpoint
        self.endpoint_class = endpoint_class

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        content = await request.aread()
        form = None
        if request.headers.get("content-type", "").startswith("application/x-www-form"):
            form = dict(parse_qsl(content.decode("utf-8", "replace")))
        secrets = credential_values(request.headers, form)
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _REQUEST_ONLY]
        outgoing = self.client.http.build_request(
            request.method, request.url, headers=headers, content=content
        )
        answer = await self.client.send(outgoing, self.endpoint, self.endpoint_class, secrets)
        return httpx2.Response(
            answer.status,
            headers=[(k, v) for k, v in answer.headers.items() if k.lower() not in _DECODED],
            content=bytes(answer.raw),
            request=request,
        )


def _bearer(token: OAuth2Token) -> str:
    return f"Bearer {token['access_token']}"


def _early_by(token: OAuth2Token) -> float:
    """How long before its expiry a token is fetched again: a minute, or a tenth of its
    lifetime when that is shorter."""
    lifetime = token.get("expires_in")
    if isinstance(lifetime, int | float) and not isinstance(lifetime, bool):
        return min(REFRESH_MARGIN, lifetime * 0.1)
    return REFRESH_MARGIN


def _sane_lifetime(resp: httpx2.Response) -> httpx2.Response:
    """The answer with ``expires_in`` clamped (``token_lifetime``): authlib turns it into
    an expiry with ``int()``, which NaN, infinity, a string or a 400-digit number would
    break or make meaningless, and 0.001 would renew the token on almost every call."""
    try:
        body = resp.json()
    except ValueError:
        return resp
    if not isinstance(body, dict) or "expires_in" not in body:
        return resp
    lifetime = token_lifetime(body["expires_in"])
    if body["expires_in"] == lifetime:
        return resp
    body["expires_in"] = int(lifetime)
    return httpx2.Response(resp.status_code, json=body, request=resp.request)


def token_lifetime(expires_in: object) -> float:
    """Seconds a token may be used: ``expires_in`` clamped to a second..a day, or the
    default when it is no positive finite number (JSON parsers accept NaN, Infinity and
    400-digit integers; 0.001 would fetch a token every few calls)."""
    if not isinstance(expires_in, int | float) or isinstance(expires_in, bool):
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
