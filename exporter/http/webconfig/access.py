"""Who may make a request: the toolkit's request rate limit and bcrypt basic auth."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Mapping

import anyio
import bcrypt

from .schema import RateLimitConfig, bcrypt_cost

REALM = 'Basic realm="campaign-exporter", charset="UTF-8"'
_BCRYPT_ALPHABET = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
# Which dummy cost a made-up user name gets: keyed, so nobody can predict it.
_NAME_KEY = secrets.token_bytes(32)
_VERIFIED_CAP = 1000

Clock = Callable[[], float]


class RequestRateLimit:
    """golang.org/x/time/rate's ``Allow``, as the toolkit uses it: a bucket of ``burst``
    tokens, full at the start, one token back every ``interval``, one taken per request,
    shared by all clients."""

    def __init__(self, interval: float, burst: int, clock: Clock = time.monotonic) -> None:
        self.interval = interval
        self.burst = burst
        self.clock = clock
        self.tokens = float(burst)
        self.stamp = clock()

    def allow(self) -> bool:
        now = self.clock()
        self.tokens = min(float(self.burst), self.tokens + (now - self.stamp) / self.interval)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


def rate_limit_for(
    config: RateLimitConfig, previous: RequestRateLimit | None, clock: Clock
) -> RequestRateLimit | None:
    """The limit to apply after a (re)load; an unchanged limit keeps its bucket."""
    if config.interval <= 0:  # 0 turns it off; Go's rate.Every reads a negative as no limit
        return None
    if previous is not None and (previous.interval, previous.burst) == (
        config.interval,
        config.burst,
    ):
        return previous
    return RequestRateLimit(config.interval, config.burst, clock)


def dummy_hash(cost: int) -> bytes:
    """A well-formed bcrypt hash that no password matches (its digest is random); checking a
    password against it takes as long as against a real hash of the same cost."""
    digest = "".join(secrets.choice(_BCRYPT_ALPHABET) for _ in range(31))
    return bcrypt.gensalt(cost) + digest.encode()


class BasicAuthUsers:
    """The users' bcrypt hashes, and for any other name a dummy hash of a cost one of the
    users has: a wrong name takes as long to refuse as a wrong password."""

    def __init__(self, users: Mapping[str, str]) -> None:
        assert users, "basic auth is off without users"
        self.hashes = {user: hashed.encode() for user, hashed in users.items()}
        self.costs = sorted(bcrypt_cost(hashed) for hashed in users.values())
        self.dummies = {cost: dummy_hash(cost) for cost in set(self.costs)}

    def hash_for(self, user: str) -> bytes:
        hashed = self.hashes.get(user)
        if hashed is not None:
            return hashed
        # With mixed costs, made-up names follow the users' own mix of costs, each name
        # always the same cost, so timing a name does not tell whether it is a user.
        digest = hmac.digest(_NAME_KEY, user.encode(), "sha256")
        return self.dummies[self.costs[int.from_bytes(digest[:8], "big") % len(self.costs)]]


class BasicAuthGate:
    """Checks ``Authorization: Basic`` against the users, off the event loop and one bcrypt
    at a time, as the toolkit does (bcrypt is slow on purpose; a flood of guesses should
    not take every core).

    A passed check is remembered, keyed by a hash of the name, password and stored hash, so
    a scraping Prometheus does not pay bcrypt's cost on every scrape and a changed hash
    needs a new check.
    """

    def __init__(self) -> None:
        self.verified: set[bytes] = set()
        self._one_at_a_time: anyio.CapacityLimiter | None = None

    async def allowed(self, header: str | None, users: BasicAuthUsers) -> bool:
        credentials = _basic(header)
        if credentials is None:
            return False
        user, password = credentials
        hashed = users.hash_for(user)
        key = hashlib.sha256(user.encode() + b"\0" + password + b"\0" + hashed).digest()
        is_user = user in users.hashes
        if key in self.verified:
            return is_user
        if self._one_at_a_time is None:
            self._one_at_a_time = anyio.CapacityLimiter(1)
        ok = await anyio.to_thread.run_sync(_checkpw, password, hashed, limiter=self._one_at_a_time)
        if ok and is_user:
            if len(self.verified) >= _VERIFIED_CAP:
                self.verified.clear()
            self.verified.add(key)
            return True
        return False


def _checkpw(password: bytes, hashed: bytes) -> bool:
    try:
        return bcrypt.checkpw(password, hashed)
    except ValueError:
        return False


def _basic(header: str | None) -> tuple[str, bytes] | None:
    """User and password from a Basic ``Authorization`` header, or None, as Go's
    ``Request.BasicAuth`` reads it."""
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        raw = base64.b64decode(header[6:], validate=True)
    except (binascii.Error, ValueError):
        return None
    user, colon, password = raw.partition(b":")
    if not colon:
        return None
    return user.decode("utf-8", "replace"), password
