"""--web.config.file: TLS, mTLS and basic auth with a CA made in the test and real clients."""

from __future__ import annotations

import base64
import contextlib
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import bcrypt
import pytest
import trustme
import yaml

from exporter import webconfig
from exporter.app import RunOptions, run
from exporter.webconfig import load_web_config

from .helpers import COMMAND, config_of, experiture_source, require_binary, running_simulator

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_files(tmp_path: Path, ca: trustme.CA) -> dict[str, Path]:
    server = ca.issue_cert("127.0.0.1", "localhost")
    files = {
        "cert": tmp_path / "server.crt",
        "key": tmp_path / "server.key",
        "ca": tmp_path / "ca.crt",
    }
    server.cert_chain_pems[0].write_to_path(str(files["cert"]))
    server.private_key_pem.write_to_path(str(files["key"]))
    ca.cert_pem.write_to_path(str(files["ca"]))
    return files


def tls_section(files: dict[str, Path], **extra: str) -> dict[str, Any]:
    """The web config's TLS part for the test's server certificate."""
    return {
        "tls_server_config": {
            "cert_file": str(files["cert"]),
            "key_file": str(files["key"]),
            **extra,
        }
    }


def write_web_config(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "web.yml"
    path.write_text(yaml.safe_dump(data))
    promtool = require_binary("promtool")
    check = subprocess.run(
        [promtool, "check", "web-config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    return path


@contextlib.asynccontextmanager
async def secured_exporter(web_config_path: Path) -> AsyncIterator[str]:
    """The exporter with a web config; yields host:port."""
    addresses: list[str] = []
    listening = anyio.Event()

    def on_listening(addrs: list[str]) -> None:
        addresses.extend(addrs)
        listening.set()

    async with running_simulator(experiture_campaigns=10) as (_sim, url):
        options = RunOptions(
            "127.0.0.1:0",
            on_listening=on_listening,
            handle_signals=False,
            web_config=load_web_config(web_config_path),
        )
        async with anyio.create_task_group() as tg:
            tg.start_soon(run, config_of(experiture_source(url)), options)
            with anyio.fail_after(10):
                await listening.wait()
            yield addresses[0]
            tg.cancel_scope.cancel()


def client_context(
    ca_file: Path, cert: trustme.LeafCert | None = None, max_version: ssl.TLSVersion | None = None
) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca_file))
    if cert is not None:
        cert.configure_cert(ctx)
    if max_version is not None:
        ctx.maximum_version = max_version
    return ctx


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def fetch(
    url: str, ctx: ssl.SSLContext | None = None, **kwargs: Any
) -> tuple[int, dict[str, str], str]:
    connector = aiohttp.TCPConnector(ssl=ctx) if ctx is not None else None
    async with aiohttp.ClientSession(connector=connector) as http:
        async with http.get(url, **kwargs) as resp:
            return resp.status, dict(resp.headers), await resp.text()


async def test_tls_with_a_ca_made_in_the_test(tmp_path: Path, tls_files: dict[str, Path]) -> None:
    path = write_web_config(
        tmp_path,
        tls_section(tls_files),
    )
    async with secured_exporter(path) as addr:
        status, _, body = await fetch(f"https://{addr}/metrics", client_context(tls_files["ca"]))
        assert status == 200 and "campaign_exporter_build_info" in body
        with pytest.raises(aiohttp.ClientError):
            await fetch(f"http://{addr}/metrics")
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await fetch(f"https://{addr}/metrics", ssl.create_default_context())


async def test_min_version_refuses_older_clients(
    tmp_path: Path, tls_files: dict[str, Path]
) -> None:
    path = write_web_config(
        tmp_path,
        tls_section(tls_files, min_version="TLS13"),
    )
    async with secured_exporter(path) as addr:
        old = client_context(tls_files["ca"], max_version=ssl.TLSVersion.TLSv1_2)
        with pytest.raises(aiohttp.ClientError):
            await fetch(f"https://{addr}/-/healthy", old)
        status, _, _ = await fetch(f"https://{addr}/-/healthy", client_context(tls_files["ca"]))
        assert status == 200


async def test_mtls_requires_a_client_certificate_from_the_ca(
    tmp_path: Path, tls_files: dict[str, Path], ca: trustme.CA
) -> None:
    path = write_web_config(
        tmp_path,
        tls_section(
            tls_files,
            client_auth_type="RequireAndVerifyClientCert",
            client_ca_file=str(tls_files["ca"]),
        ),
    )
    good = ca.issue_cert("prometheus.example")
    stranger = trustme.CA().issue_cert("prometheus.example")
    async with secured_exporter(path) as addr:
        url = f"https://{addr}/metrics"
        with pytest.raises(aiohttp.ClientError):
            await fetch(url, client_context(tls_files["ca"]))
        with pytest.raises(aiohttp.ClientError):
            await fetch(url, client_context(tls_files["ca"], stranger))
        status, _, _ = await fetch(url, client_context(tls_files["ca"], good))
        assert status == 200


async def test_basic_auth_and_headers(tmp_path: Path) -> None:
    hashed = bcrypt.hashpw(b"scrape-pass", bcrypt.gensalt(4)).decode()
    path = write_web_config(
        tmp_path,
        {
            "basic_auth_users": {"prometheus": hashed},
            "http_server_config": {"headers": {"X-Content-Type-Options": "nosniff"}},
        },
    )
    async with secured_exporter(path) as addr:
        url = f"http://{addr}/metrics"
        status, headers, _ = await fetch(url)
        assert status == 401
        assert headers["WWW-Authenticate"].startswith('Basic realm="campaign-exporter"')
        assert headers["X-Content-Type-Options"] == "nosniff"
        for user, password in (("prometheus", "wrong"), ("nobody", "scrape-pass")):
            status, _, _ = await fetch(url, headers=basic(user, password))
            assert status == 401
        for _ in range(2):  # the second time comes from the cache of verified credentials
            status, headers, body = await fetch(url, headers=basic("prometheus", "scrape-pass"))
            assert status == 200 and "campaign_exporter_build_info" in body
            assert headers["X-Content-Type-Options"] == "nosniff"


def spy_on_bcrypt(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    checked: list[bytes] = []
    real = webconfig._checkpw

    def spy(password: bytes, hashed: bytes) -> bool:
        checked.append(hashed)
        return real(password, hashed)

    monkeypatch.setattr(webconfig, "_checkpw", spy)
    return checked


def cost(hashed: bytes) -> int:
    return int(hashed.split(b"$")[2])


async def test_unknown_users_cost_a_bcrypt_check_of_the_users_cost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No timing oracle: a wrong name runs bcrypt at the same cost as a wrong password."""
    checked = spy_on_bcrypt(monkeypatch)
    gate = webconfig.BasicAuthGate({"prometheus": bcrypt.hashpw(b"pw", bcrypt.gensalt(5)).decode()})
    assert not await gate.allowed(basic("nobody", "pw")["Authorization"])
    assert not await gate.allowed(basic("prometheus", "wrong")["Authorization"])
    assert [cost(h) for h in checked] == [5, 5]
    assert checked[0] != checked[1]
    assert bcrypt.checkpw(b"pw", checked[0]) is False  # a well-formed hash that never matches


async def test_with_mixed_costs_each_unknown_name_gets_one_of_the_users_costs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checked = spy_on_bcrypt(monkeypatch)
    gate = webconfig.BasicAuthGate(
        {
            "alice": bcrypt.hashpw(b"a", bcrypt.gensalt(4)).decode(),
            "bob": bcrypt.hashpw(b"b", bcrypt.gensalt(6)).decode(),
        }
    )
    names = [f"guess-{i}" for i in range(24)]
    for name in [*names, *names]:
        assert not await gate.allowed(basic(name, "pw")["Authorization"])
    costs = [cost(h) for h in checked]
    assert set(costs) == {4, 6}
    assert costs[:24] == costs[24:]  # a name always costs the same


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"basic_auth_users": {"u": "plain"}},
            'basic_auth_users: the password of "u" is not a bcrypt hash',
        ),
        (
            {
                "tls_server_config": {
                    "cert_file": "/nonexistent.crt",
                    "key_file": "/nonexistent.key",
                }
            },
            "tls_server_config.cert_file: file not found: /nonexistent.crt",
        ),
        ({"tls_srv_config": {}}, "tls_srv_config: unknown key"),
        (
            {
                "tls_server_config": {
                    "cert_file": "/etc/hostname",
                    "key_file": "/etc/hostname",
                    "client_auth_type": "RequireAndVerifyClientCert",
                }
            },
            "tls_server_config: client_auth_type RequireAndVerifyClientCert needs client_ca_file",
        ),
    ],
)
def test_bad_web_config_exits_with_one_line(
    tmp_path: Path, data: dict[str, Any], message: str
) -> None:
    web = tmp_path / "web.yml"
    web.write_text(yaml.safe_dump(data))
    config = tmp_path / "config.yml"
    config.write_text(yaml.safe_dump({"sources": [experiture_source("http://127.0.0.1:9")]}))
    result = subprocess.run(
        [COMMAND, f"--config.file={config}", f"--web.config.file={web}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"campaign-exporter: {web}: {message}"]


def test_config_check_validates_the_web_config_too(tmp_path: Path) -> None:
    web = tmp_path / "web.yml"
    web.write_text(yaml.safe_dump({"basic_auth_users": {"u": "plain"}}))
    config = tmp_path / "config.yml"
    config.write_text(yaml.safe_dump({"sources": [experiture_source("http://127.0.0.1:9")]}))
    result = subprocess.run(
        [COMMAND, f"--config.file={config}", f"--web.config.file={web}", "--config.check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f'campaign-exporter: {web}: basic_auth_users: the password of "u" is not a bcrypt hash'
    ]
