"""The web config in this process: the verdict on each exporter-toolkit key and refusal, the
rate limit's token bucket, and basic auth's bcrypt checks (no timing oracle)."""

from __future__ import annotations

import base64

import bcrypt
import pytest

from exporter.config.errors import ConfigError
from exporter.http.webconfig import access, load_web_config
from exporter.http.webconfig.access import BasicAuthGate, BasicAuthUsers, RequestRateLimit

from ...webconfig_files import VERDICTS, Pki, basic, materialize

pytestmark = pytest.mark.anyio

# Where this exporter's verdict differs from the toolkit's, and why.
DIFFERS_FROM_TOOLKIT = {
    "client_auth_require_any.yml": "Python's ssl cannot accept an unverified client certificate",
    "client_auth_request.yml": "Python's ssl cannot accept an unverified client certificate",
    "client_auth_require_legacy.yml": "the toolkit's old name for RequireAnyClientCert",
    "users_salt_not_canonical.yml": "Go's bcrypt.Cost does not decode the salt; no password "
    "would ever match the hash",
}


@pytest.mark.parametrize(("fixture", "error", "toolkit", "promtool"), VERDICTS)
def test_the_verdict_on_each_key_and_refusal(
    pki: Pki, fixture: str, error: str | None, toolkit: bool, promtool: bool
) -> None:
    path = materialize(fixture, pki)
    try:
        load_web_config(path)
        lines: list[str] = []
    except ConfigError as exc:
        lines = exc.lines
    assert lines == ([] if error is None else [error.format(dir=pki.dir)])
    assert (error is None) == toolkit or fixture in DIFFERS_FROM_TOOLKIT


def test_the_rate_limit_bucket_refills_one_token_per_interval() -> None:
    now = [100.0]
    limit = RequestRateLimit(interval=2.0, burst=3, clock=lambda: now[0])
    assert [limit.allow() for _ in range(4)] == [True, True, True, False]
    now[0] += 1.0
    assert limit.allow() is False
    now[0] += 1.0
    assert [limit.allow(), limit.allow()] == [True, False]
    now[0] += 60.0  # a long pause refills to the burst, no further
    assert [limit.allow() for _ in range(4)] == [True, True, True, False]


def test_a_burst_of_zero_refuses_everything() -> None:
    now = [0.0]
    limit = RequestRateLimit(interval=1.0, burst=0, clock=lambda: now[0])
    now[0] += 3600.0
    assert limit.allow() is False


def spy_on_bcrypt(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    checked: list[bytes] = []
    real = access._checkpw

    def spy(password: bytes, hashed: bytes) -> bool:
        checked.append(hashed)
        return real(password, hashed)

    monkeypatch.setattr(access, "_checkpw", spy)
    return checked


def cost(hashed: bytes) -> int:
    return int(hashed.split(b"$")[2])


async def test_unknown_users_cost_a_bcrypt_check_of_the_users_cost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No timing oracle: a wrong name runs bcrypt at the same cost as a wrong password."""
    checked = spy_on_bcrypt(monkeypatch)
    users = BasicAuthUsers({"prometheus": bcrypt.hashpw(b"pw", bcrypt.gensalt(5)).decode()})
    gate = BasicAuthGate()
    assert not await gate.allowed(basic("nobody", "pw")["Authorization"], users)
    assert not await gate.allowed(basic("prometheus", "wrong")["Authorization"], users)
    assert [cost(h) for h in checked] == [5, 5]
    assert checked[0] != checked[1]
    assert bcrypt.checkpw(b"pw", checked[0]) is False  # a well-formed hash that never matches


async def test_with_mixed_costs_each_unknown_name_gets_one_of_the_users_costs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checked = spy_on_bcrypt(monkeypatch)
    users = BasicAuthUsers(
        {
            "alice": bcrypt.hashpw(b"a", bcrypt.gensalt(4)).decode(),
            "bob": bcrypt.hashpw(b"b", bcrypt.gensalt(6)).decode(),
        }
    )
    gate = BasicAuthGate()
    names = [f"guess-{i}" for i in range(24)]
    for name in [*names, *names]:
        assert not await gate.allowed(basic(name, "pw")["Authorization"], users)
    costs = [cost(h) for h in checked]
    assert set(costs) == {4, 6}
    assert costs[:24] == costs[24:]  # a name always costs the same


async def test_no_credentials_cost_no_bcrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    checked = spy_on_bcrypt(monkeypatch)
    users = BasicAuthUsers({"u": bcrypt.hashpw(b"pw", bcrypt.gensalt(4)).decode()})
    gate = BasicAuthGate()
    for header in (None, "Bearer abc", "Basic !!!", "Basic " + base64.b64encode(b"u").decode()):
        assert not await gate.allowed(header, users)
    assert checked == []
