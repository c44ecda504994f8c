"""--web.config.file on the exporter in this process: TLS, client certificates, cipher
suites and curves, basic auth, headers and the rate limit against real clients, with a CA
made in the test."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import bcrypt
import pytest
import trustme
import yaml
from anyio.streams.tls import TLSAttribute

from exporter.http.webconfig import load_web_config
from exporter.run.app import RunOptions, run

from ..helpers import config_of, experiture_source, running_simulator
from ..webconfig_files import Pki, basic, materialize, write_web_config

pytestmark = pytest.mark.anyio

CACHED_SCRAPE_USER = ("prometheus", "scrape-pass")


def tls_section(**extra: Any) -> dict[str, Any]:
    """The web config's TLS part for the test's server certificate (``pki`` writes it)."""
    return {"tls_server_config": {"cert_file": "server.crt", "key_file": "server.key", **extra}}


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
            ("127.0.0.1:0",),
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
    ca: trustme.CA, cert: trustme.LeafCert | None = None, max_version: ssl.TLSVersion | None = None
) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    if cert is not None:
        cert.configure_cert(ctx)
    if max_version is not None:
        ctx.maximum_version = max_version
    return ctx


async def fetch(
    url: str, ctx: ssl.SSLContext | None = None, **kwargs: Any
) -> tuple[int, dict[str, str], str]:
    connector = aiohttp.TCPConnector(ssl=ctx) if ctx is not None else None
    async with aiohttp.ClientSession(connector=connector) as http:
        async with http.get(url, **kwargs) as resp:
            return resp.status, dict(resp.headers), await resp.text()


async def handshake(addr: str, ctx: ssl.SSLContext) -> tuple[str, bytes]:
    """A new TLS connection: the cipher suite it got and the server's certificate (DER)."""
    host, port = addr.rsplit(":", 1)
    stream = await anyio.connect_tcp(host, int(port), ssl_context=ctx, tls=True, tls_hostname=host)
    async with stream:
        cipher = stream.extra(TLSAttribute.cipher)[0]  # noqa: S610 (anyio, not Django)
        served = stream.extra(TLSAttribute.peer_certificate_binary)  # noqa: S610
    assert served is not None
    return cipher, served


async def assert_refused(addr: str, ctx: ssl.SSLContext) -> None:
    with pytest.raises((ssl.SSLError, OSError, anyio.BrokenResourceError)):
        await handshake(addr, ctx)


def der(leaf: trustme.LeafCert) -> bytes:
    return ssl.PEM_cert_to_DER_cert(leaf.cert_chain_pems[0].bytes().decode())


async def test_tls_with_a_ca_made_in_the_test(pki: Pki) -> None:
    async with secured_exporter(materialize("tls_files.yml", pki)) as addr:
        status, _, body = await fetch(f"https://{addr}/metrics", client_context(pki.ca))
        assert status == 200 and "campaign_exporter_build_info" in body
        with pytest.raises(aiohttp.ClientError):
            await fetch(f"http://{addr}/metrics")
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await fetch(f"https://{addr}/metrics", ssl.create_default_context())


async def test_inline_certificate_key_and_client_ca(pki: Pki) -> None:
    path = write_web_config(
        pki.dir,
        {
            "tls_server_config": {
                "cert": pki.pem("@SERVER_CERT@"),
                "key": pki.pem("@SERVER_KEY@"),
                "client_auth_type": "RequireAndVerifyClientCert",
                "client_ca": pki.pem("@CA_CERT@"),
            }
        },
    )
    (pki.dir / "server.key").unlink()  # nothing is read from a key file
    async with secured_exporter(path) as addr:
        url = f"https://{addr}/-/healthy"
        with pytest.raises(aiohttp.ClientError):
            await fetch(url, client_context(pki.ca))
        ctx = client_context(pki.ca, pki.ca.issue_cert("prometheus.example"))
        status, _, _ = await fetch(url, ctx)
        assert status == 200


async def test_a_rotated_certificate_reaches_the_next_connection(pki: Pki) -> None:
    """Certificate and key rewritten in place: the next handshake serves the new pair."""
    first = pki.server
    async with secured_exporter(materialize("tls_files.yml", pki)) as addr:
        _, served = await handshake(addr, client_context(pki.ca))
        assert served == der(first)
        renewed = pki.ca.issue_cert("127.0.0.1", "localhost")
        pki.write_server(renewed)
        _, served = await handshake(addr, client_context(pki.ca))
        assert served == der(renewed) != der(first)
        status, _, _ = await fetch(f"https://{addr}/-/healthy", client_context(pki.ca))
        assert status == 200


async def test_an_invalid_file_at_runtime_refuses_until_fixed(pki: Pki) -> None:
    """Like the toolkit: no falling back to the last good file, which may grant too much."""
    path = materialize("tls_files.yml", pki)
    good = path.read_text()
    async with secured_exporter(path) as addr:
        url = f"https://{addr}/-/healthy"
        path.write_text(good + "  cipher_suites: [TLS_NO_SUCH_SUITE]\n")
        with pytest.raises(aiohttp.ClientError):
            await fetch(url, client_context(pki.ca))
        path.write_text(good)
        status, _, _ = await fetch(url, client_context(pki.ca))
        assert status == 200


async def test_min_version_refuses_older_clients(pki: Pki) -> None:
    path = write_web_config(pki.dir, tls_section(min_version="TLS13"))
    async with secured_exporter(path) as addr:
        old = client_context(pki.ca, max_version=ssl.TLSVersion.TLSv1_2)
        with pytest.raises(aiohttp.ClientError):
            await fetch(f"https://{addr}/-/healthy", old)
        status, _, _ = await fetch(f"https://{addr}/-/healthy", client_context(pki.ca))
        assert status == 200


async def test_mtls_requires_a_client_certificate_from_the_ca(pki: Pki) -> None:
    good = pki.ca.issue_cert("prometheus.example")
    stranger = trustme.CA().issue_cert("prometheus.example")
    async with secured_exporter(materialize("client_require_and_verify.yml", pki)) as addr:
        url = f"https://{addr}/metrics"
        with pytest.raises(aiohttp.ClientError):
            await fetch(url, client_context(pki.ca))
        with pytest.raises(aiohttp.ClientError):
            await fetch(url, client_context(pki.ca, stranger))
        status, _, _ = await fetch(url, client_context(pki.ca, good))
        assert status == 200


async def test_verify_if_given_without_a_ca_checks_against_the_system_cas(pki: Pki) -> None:
    async with secured_exporter(materialize("client_verify_if_given_without_ca.yml", pki)) as addr:
        url = f"https://{addr}/-/healthy"
        status, _, _ = await fetch(url, client_context(pki.ca))
        assert status == 200
        # The test's CA is in no system store: a certificate from it is refused.
        with pytest.raises(aiohttp.ClientError):
            await fetch(url, client_context(pki.ca, pki.ca.issue_cert("prometheus.example")))


async def test_client_allowed_sans(pki: Pki) -> None:
    """A DNS, IP or e-mail SAN on the list lets the client in; any other SAN does not."""
    async with secured_exporter(materialize("client_allowed_sans.yml", pki)) as addr:
        url = f"https://{addr}/-/healthy"
        for identity in ("prometheus.example", "192.0.2.7", "scraper@example.com"):
            ctx = client_context(pki.ca, pki.ca.issue_cert("other.example", identity))
            status, _, _ = await fetch(url, ctx)
            assert status == 200, identity
        for identity in ("intruder.example", "192.0.2.8", "someone@example.com"):
            ctx = client_context(pki.ca, pki.ca.issue_cert(identity))
            with pytest.raises(aiohttp.ClientError):
                await fetch(url, ctx)


async def test_allowed_sans_refuse_a_client_without_a_certificate(pki: Pki) -> None:
    path = write_web_config(
        pki.dir,
        tls_section(
            client_auth_type="VerifyClientCertIfGiven",
            client_ca_file="ca.crt",
            client_allowed_sans=["prometheus.example"],
        ),
    )
    async with secured_exporter(path) as addr:
        with pytest.raises(aiohttp.ClientError):
            await fetch(f"https://{addr}/-/healthy", client_context(pki.ca))


def tls12_client(ca: trustme.CA, openssl_ciphers: str) -> ssl.SSLContext:
    ctx = client_context(ca, max_version=ssl.TLSVersion.TLSv1_2)
    ctx.set_ciphers(openssl_ciphers)
    return ctx


async def test_cipher_suites_and_whose_preference_wins(pki: Pki) -> None:
    """The listed suites only; the server's order, or the client's once
    prefer_server_cipher_suites is false (applied without a restart)."""
    suites = ["TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"]
    path = write_web_config(pki.dir, tls_section(max_version="TLS12", cipher_suites=suites))
    client_order = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384"
    async with secured_exporter(path) as addr:
        cipher, _ = await handshake(addr, tls12_client(pki.ca, client_order))
        assert cipher == "ECDHE-ECDSA-AES256-GCM-SHA384"
        await assert_refused(addr, tls12_client(pki.ca, "ECDHE-ECDSA-CHACHA20-POLY1305"))
        write_web_config(
            pki.dir,
            tls_section(
                max_version="TLS12", cipher_suites=suites, prefer_server_cipher_suites=False
            ),
        )
        cipher, _ = await handshake(addr, tls12_client(pki.ca, client_order))
        assert cipher == "ECDHE-ECDSA-AES128-GCM-SHA256"


async def test_listing_only_tls13_suites_leaves_tls12_clients_nothing(pki: Pki) -> None:
    config = tls_section(cipher_suites=["TLS_AES_128_GCM_SHA256"])
    path = write_web_config(pki.dir, {**config, "http_server_config": {"http2": False}})
    async with secured_exporter(path) as addr:
        await assert_refused(addr, client_context(pki.ca, max_version=ssl.TLSVersion.TLSv1_2))
        cipher, _ = await handshake(addr, client_context(pki.ca))
        assert cipher.startswith("TLS_")


async def test_curve_preferences(pki: Pki) -> None:
    path = write_web_config(
        pki.dir, tls_section(min_version="TLS13", curve_preferences=["CurveP521"])
    )
    async with secured_exporter(path) as addr:
        p256_only = client_context(pki.ca)
        p256_only.set_ecdh_curve("prime256v1")
        await assert_refused(addr, p256_only)
        p521 = client_context(pki.ca)
        p521.set_ecdh_curve("secp521r1")
        await handshake(addr, p521)


async def test_rate_limit_answers_429_once_the_burst_is_spent(tmp_path: Path) -> None:
    path = write_web_config(tmp_path, {"rate_limit": {"interval": "1h", "burst": 2}})
    async with secured_exporter(path) as addr:
        statuses = [(await fetch(f"http://{addr}/-/healthy"))[0] for _ in range(3)]
    assert statuses == [200, 200, 429]


async def test_headers_on_every_response(pki: Pki) -> None:
    """Streamed /metrics, 404 and 401 too; X-XSS-Protection: 0 read as Go reads it."""
    path = materialize("headers_all.yml", pki)
    data = yaml.safe_load(path.read_text())
    hashed = bcrypt.hashpw(CACHED_SCRAPE_USER[1].encode(), bcrypt.gensalt(4)).decode()
    data["basic_auth_users"] = {CACHED_SCRAPE_USER[0]: hashed}
    expected = {
        "Content-Security-Policy": "default-src 'self'",
        "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "sameorigin",
        "X-XSS-Protection": "0",
    }
    async with secured_exporter(write_web_config(pki.dir, data)) as addr:
        auth = basic(*CACHED_SCRAPE_USER)
        for path_, headers, status in (
            ("/metrics", {**auth, "Accept-Encoding": "identity"}, 200),
            ("/metrics", auth, 200),
            ("/no-such-page", auth, 404),
            ("/metrics", {}, 401),
        ):
            got, resp_headers, _ = await fetch(f"http://{addr}{path_}", headers=headers)
            assert got == status
            assert {k: resp_headers.get(k) for k in expected} == expected, path_


async def test_basic_auth_and_a_users_change_without_restart(tmp_path: Path) -> None:
    def users(**passwords: str) -> dict[str, Any]:
        return {
            "basic_auth_users": {
                user: bcrypt.hashpw(pw.encode(), bcrypt.gensalt(4)).decode()
                for user, pw in passwords.items()
            }
        }

    path = write_web_config(tmp_path, users(prometheus="scrape-pass"))
    async with secured_exporter(path) as addr:
        url = f"http://{addr}/metrics"
        status, headers, _ = await fetch(url)
        assert status == 401
        assert headers["WWW-Authenticate"].startswith('Basic realm="campaign-exporter"')
        for user, password in (("prometheus", "wrong"), ("nobody", "scrape-pass")):
            status, _, _ = await fetch(url, headers=basic(user, password))
            assert status == 401
        for _ in range(2):  # the second time comes from the cache of verified credentials
            status, _, body = await fetch(url, headers=basic("prometheus", "scrape-pass"))
            assert status == 200 and "campaign_exporter_build_info" in body
        write_web_config(tmp_path, users(grafana="new-pass"))
        status, _, _ = await fetch(url, headers=basic("prometheus", "scrape-pass"))
        assert status == 401
        status, _, _ = await fetch(url, headers=basic("grafana", "new-pass"))
        assert status == 200


async def test_an_invalid_users_file_at_runtime_answers_500(tmp_path: Path) -> None:
    hashed = bcrypt.hashpw(b"pw", bcrypt.gensalt(4)).decode()
    path = write_web_config(tmp_path, {"basic_auth_users": {"u": hashed}})
    async with secured_exporter(path) as addr:
        write_web_config(tmp_path, {"basic_auth_users": {"u": "pw"}})
        status, _, _ = await fetch(f"http://{addr}/-/healthy", headers=basic("u", "pw"))
        assert status == 500
        write_web_config(tmp_path, {"basic_auth_users": {"u": hashed}})
        status, _, _ = await fetch(f"http://{addr}/-/healthy", headers=basic("u", "pw"))
        assert status == 200
