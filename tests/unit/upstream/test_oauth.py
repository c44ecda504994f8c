"""OAuth2 token lifetimes: ``expires_in`` clamped before authlib turns it into an expiry."""

from __future__ import annotations

import pytest

from exporter.upstream.auth import token_lifetime


@pytest.mark.parametrize(
    ("expires_in", "lifetime"),
    [
        (3600, 3600.0),
        (0.001, 1.0),  # raised to a second: it fetched a token for nearly every call
        (float("nan"), 300.0),  # JSON's NaN and Infinity: the default
        (float("inf"), 300.0),
        (10**400, 86400.0),  # at most a day, compared without a float overflow
        (0, 300.0),
        (-5, 300.0),
        ("3600", 300.0),
        (True, 300.0),
        (None, 300.0),
    ],
)
def test_expires_in_is_clamped(expires_in: object, lifetime: float) -> None:
    assert token_lifetime(expires_in) == lifetime
