"""--web.config.file: the exporter-toolkit format key by key and refusal by refusal, then
TLS, client certificates, basic auth, headers and the rate limit against real clients,
with a CA made in the test."""

from __future__ import annotations

import base64
import contextlib
import os
import re
import ssl
import subprocess
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import bcrypt
import pytest
import trustme
import yaml
from anyio.streams.tls import TLSAttribute
from cryptography.hazmat.primitives import serialization

from exporter.config.errors import ConfigError
from exporter.http.webconfig import access, load_web_config
from exporter.http.webconfig.access import BasicAuthGate, BasicAuthUsers, RequestRateLimit
from exporter.run.app import RunOptions, run

from ..helpers import COMMAND, config_of, experiture_source, require_binary, running_simulator

pytestmark = pytest.mark.anyio

FIXTURES = Path(__file__).parents[1] / "fixtures" / "webconfig"
CACHED_SCRAPE_USER = ("prometheus", "scrape-pass")


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@dataclass
class Pki:
    """The test's certificates, as files next to the web config that names them."""

    dir: Path
    ca: trustme.CA
    server: trustme.LeafCert

    def write_server(self, leaf: trustme.LeafCert) -> None:
        leaf.cert_chain_pems[0].write_to_path(str(self.dir / "server.crt"))
        leaf.private_key_pem.write_to_path(str(self.dir / "server.key"))
        self.server = leaf

    def pem(self, token: str) -> str:
        pems = {
            "@SERVER_CERT@": self.server.cert_chain_pems[0],
            "@SERVER_KEY@": self.server.private_key_pem,
            "@CA_CERT@": self.ca.cert_pem,
        }
        return pems[token].bytes().decode()


@pytest.fixture
def pki(tmp_path: Path, ca: trustme.CA) -> Pki:
    made = Pki(tmp_path, ca, ca.issue_cert("127.0.0.1", "localhost"))
    made.write_server(made.server)
    ca.cert_pem.write_to_path(str(tmp_path / "ca.crt"))
    ca.issue_cert("other.example").private_key_pem.write_to_path(str(tmp_path / "other.key"))
    key = serialization.load_pem_private_key(made.server.private_key_pem.bytes(), None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"key-password"),
    )
    (tmp_path / "encrypted.key").write_bytes(encrypted)
    (tmp_path / "notes.txt").write_text("not a certificate\n")
    return made


def materialize(fixture: str, pki: Pki) -> Path:
    """The fixture next to the test's certificates, inline PEM placeholders filled in."""

    def inline(match: re.Match[str]) -> str:
        indent = match.group(1)
        return "\n".join(indent + line for line in pki.pem(match.group(2)).strip().splitlines())

    text = (FIXTURES / fixture).read_text()
    path = pki.dir / fixture
    path.write_text(re.sub(r"^( *)(@[A-Z_]+@)$", inline, text, flags=re.MULTILINE))
    return path


# fixture, our one-line error ({dir}: the fixture's directory; None: accepted), whether the
# current exporter-toolkit serves it (the reference), whether Debian's promtool 2.42 (an
# older toolkit) accepts it.
VERDICTS: list[tuple[str, str | None, bool, bool]] = [
    ("empty.yml", None, True, True),
    ("null_sections.yml", None, True, True),
    ("tls_files.yml", None, True, True),
    ("tls_inline.yml", None, True, False),
    ("tls_cert_file_inline_key.yml", None, True, False),
    ("tls_options_alone.yml", None, True, True),
    ("client_verify_if_given_without_ca.yml", None, True, True),
    ("client_require_and_verify.yml", None, True, True),
    ("client_ca_inline.yml", None, True, False),
    ("client_allowed_sans.yml", None, True, False),
    ("cipher_suites_all.yml", None, True, True),
    ("cipher_suites_http2_off.yml", None, True, True),
    ("cipher_suites_tls13_only.yml", None, True, True),
    ("curves_all.yml", None, True, True),
    ("versions.yml", None, True, True),
    ("headers_all.yml", None, True, True),
    ("users.yml", None, True, True),
    ("rate_limit.yml", None, True, False),
    ("rate_limit_off.yml", None, True, False),
    ("not_a_mapping.yml", "(top level): must be a mapping of web settings", False, False),
    ("unknown_key.yml", "tls_server_config.cert_filename: unknown key", False, False),
    ("unknown_section.yml", "tls_srv_config: unknown key", False, False),
    ("repeated_key.yml", 'line 4, column 3: key "cert_file" is repeated', False, False),
    (
        "cert_file_empty.yml",
        "tls_server_config: one of cert_file or cert is required",
        False,
        False,
    ),
    (
        "cert_inline_empty.yml",
        "tls_server_config: one of cert_file or cert is required",
        False,
        False,
    ),
    ("key_missing.yml", "tls_server_config: one of key_file or key is required", False, False),
    (
        "client_auth_without_cert.yml",
        "tls_server_config: one of cert_file or cert is required",
        False,
        False,
    ),
    (
        "cert_file_not_found.yml",
        "tls_server_config.cert_file: file not found: {dir}/missing.crt",
        False,
        False,
    ),
    (
        "key_file_not_found.yml",
        "tls_server_config.key_file: file not found: {dir}/missing.key",
        False,
        False,
    ),
    ("cert_not_pem.yml", "tls_server_config.cert_file: no PEM certificate found", False, False),
    ("key_not_pem.yml", "tls_server_config.key_file: no PEM private key found", False, False),
    (
        "key_mismatch.yml",
        "tls_server_config: the key does not match the certificate (KEY_VALUES_MISMATCH)",
        False,
        False,
    ),
    (
        "key_encrypted.yml",
        "tls_server_config.key_file: the key is encrypted: the web config has no key password",
        False,
        False,
    ),
    (
        "client_ca_file_not_found.yml",
        "tls_server_config.client_ca_file: file not found: {dir}/missing-ca.crt",
        False,
        False,
    ),
    (
        "client_ca_without_policy.yml",
        "tls_server_config: client_ca_file is set but client_auth_type is NoClientCert: "
        "set client_auth_type: RequireAndVerifyClientCert",
        False,
        False,
    ),
    (
        "client_ca_inline_without_policy.yml",
        "tls_server_config: client_ca is set but client_auth_type is NoClientCert: "
        "set client_auth_type: RequireAndVerifyClientCert",
        False,
        False,
    ),
    (
        "client_auth_unknown.yml",
        'tls_server_config.client_auth_type: unknown value "RequireClientCertAndVerify": '
        "expected NoClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert",
        False,
        False,
    ),
    *(
        (
            f"client_auth_{name}.yml",
            f"tls_server_config.client_auth_type: {value} is not supported: Python's ssl "
            "module cannot accept a client certificate without verifying it; use "
            "RequireAndVerifyClientCert with client_ca_file",
            True,
            True,
        )
        for name, value in (
            ("require_any", "RequireAnyClientCert"),
            ("request", "RequestClientCert"),
            ("require_legacy", "RequireClientCert"),
        )
    ),
    (
        "cipher_suite_unknown.yml",
        'tls_server_config.cipher_suites[1]: unknown cipher suite "ECDHE-RSA-AES256-GCM-SHA384": '
        "expected a name from Go's tls.CipherSuites(), such as "
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        False,
        False,
    ),
    (
        "cipher_suite_rsa_kex.yml",
        'tls_server_config.cipher_suites[0]: unknown cipher suite "TLS_RSA_WITH_AES_128_GCM_SHA256"'
        ": expected a name from Go's tls.CipherSuites(), such as "
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        False,
        True,
    ),
    (
        "cipher_suites_no_http2.yml",
        "tls_server_config.cipher_suites: with http_server_config.http2 on (the default), the "
        "list needs TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 or "
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        False,
        True,
    ),
    (
        "curve_unknown.yml",
        'tls_server_config.curve_preferences[0]: unknown curve "P-256": '
        "expected CurveP256, CurveP384, CurveP521 or X25519",
        False,
        False,
    ),
    (
        "version_unknown.yml",
        'tls_server_config.min_version: unknown TLS version "TLS1.2": '
        "expected TLS10, TLS11, TLS12 or TLS13",
        False,
        False,
    ),
    (
        "version_number.yml",
        'tls_server_config.max_version: unknown TLS version "1.3": '
        "expected TLS10, TLS11, TLS12 or TLS13",
        False,
        False,
    ),
    (
        "header_not_allowed.yml",
        'http_server_config.headers: header "Access-Control-Allow-Origin" cannot be set: only '
        "Content-Security-Policy, Strict-Transport-Security, X-Content-Type-Options, "
        "X-Frame-Options or X-XSS-Protection can",
        False,
        False,
    ),
    (
        "header_name_lowercase.yml",
        'http_server_config.headers: header "x-frame-options" cannot be set: only '
        "Content-Security-Policy, Strict-Transport-Security, X-Content-Type-Options, "
        "X-Frame-Options or X-XSS-Protection can",
        False,
        False,
    ),
    (
        "header_frame_options_uppercase.yml",
        'http_server_config.headers: X-Frame-Options must be "deny" or "sameorigin", not "DENY"',
        False,
        False,
    ),
    (
        "header_content_type_options.yml",
        'http_server_config.headers: X-Content-Type-Options must be "nosniff", not "no-sniff"',
        False,
        False,
    ),
    ("http2_quoted.yml", "http_server_config.http2: must be true or false", False, False),
    (
        "users_plain_password.yml",
        'basic_auth_users: the password of "prometheus" is not a bcrypt hash '
        "($2a$, $2b$, $2x$ or $2y$, 60 characters)",
        False,
        False,
    ),
    (
        "users_cost_too_low.yml",
        'basic_auth_users: the password of "prometheus" has bcrypt cost 3: '
        "bcrypt costs go from 4 to 31",
        False,
        False,
    ),
    (
        "users_salt_not_canonical.yml",
        'basic_auth_users: the password of "prometheus" is not a bcrypt hash '
        "(its salt does not decode)",
        True,
        True,
    ),
    (
        "rate_limit_days.yml",
        'rate_limit.interval: invalid duration "1d": expected a Go duration such as 500ms, 1s '
        "or 1m30s (units ns, us, ms, s, m, h)",
        False,
        False,
    ),
    ("rate_limit_burst_quoted.yml", "rate_limit.burst: must be an integer", False, False),
]
# Where this exporter's verdict differs from the toolkit's, and why.
DIFFERS_FROM_TOOLKIT = {
    "client_auth_require_any.yml": "Python's ssl cannot accept an unverified client certificate",
    "client_auth_request.yml": "Python's ssl cannot accept an unverified client certificate",
    "client_auth_require_legacy.yml": "the toolkit's old name for RequireAnyClientCert",
    "users_salt_not_canonical.yml": "Go's bcrypt.Cost does not decode the salt; no password "
    "would ever match the hash",
}
# Where promtool 2.42 (exporter-toolkit of early 2023, Go 1.19) differs from the current toolkit.
PROMTOOL_IS_OLDER = {
    "tls_inline.yml": "no inline cert and key yet",
    "tls_cert_file_inline_key.yml": "no inline key yet",
    "client_ca_inline.yml": "no inline client_ca yet",
    "client_allowed_sans.yml": "no client_allowed_sans yet",
    "rate_limit.yml": "no rate_limit yet",
    "rate_limit_off.yml": "no rate_limit yet",
    "cipher_suite_rsa_kex.yml": "Go 1.19 still listed RSA key exchange in tls.CipherSuites()",
    "cipher_suites_no_http2.yml": "the HTTP/2 cipher check runs when the server starts, "
    "not in a config check",
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


@pytest.mark.parametrize(("fixture", "error", "toolkit", "promtool"), VERDICTS)
def test_promtool_as_a_second_oracle(
    pki: Pki, fixture: str, error: str | None, toolkit: bool, promtool: bool
) -> None:
    """promtool's own verdict, which agrees with the current toolkit where it knows the key."""
    check = subprocess.run(
        [require_binary("promtool"), "check", "web-config", str(materialize(fixture, pki))],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (check.returncode == 0) == promtool, check.stdout + check.stderr
    assert promtool == toolkit or fixture in PROMTOOL_IS_OLDER


def write_web_config(directory: Path, data: dict[str, Any]) -> Path:
    path = directory / "web.yml"
    path.write_text(yaml.safe_dump(data))
    return path


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


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"basic_auth_users": {"u": "plain"}},
            'basic_auth_users: the password of "u" is not a bcrypt hash '
            "($2a$, $2b$, $2x$ or $2y$, 60 characters)",
        ),
        (
            {"tls_server_config": {"cert_file": "/nonexistent.crt", "key_file": "/x.key"}},
            "tls_server_config.cert_file: file not found: /nonexistent.crt",
        ),
        ({"tls_srv_config": {}}, "tls_srv_config: unknown key"),
        (
            {
                "tls_server_config": {
                    "cert_file": "/etc/hostname",
                    "key_file": "/etc/hostname",
                    "client_auth_type": "RequireAnyClientCert",
                }
            },
            "tls_server_config.client_auth_type: RequireAnyClientCert is not supported: "
            "Python's ssl module cannot accept a client certificate without verifying it; "
            "use RequireAndVerifyClientCert with client_ca_file",
        ),
    ],
)
def test_bad_web_config_exits_with_one_line(
    tmp_path: Path, data: dict[str, Any], message: str
) -> None:
    web = write_web_config(tmp_path, data)
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


def _fifo_web_config(directory: Path) -> Path:
    os.mkfifo(directory / "web.yml")
    return directory / "web.yml"


def _fifo_certificate(directory: Path) -> Path:
    os.mkfifo(directory / "tls.crt")
    return write_web_config(
        directory, {"tls_server_config": {"cert_file": "tls.crt", "key_file": "tls.key"}}
    )


def _huge_web_config(directory: Path) -> Path:
    path = directory / "web.yml"
    path.write_text("# padding\n" * 120_000)  # 1.2 MB, over the config's 1 MiB cap
    return path


def _deep_web_config(directory: Path) -> Path:
    path = directory / "web.yml"
    path.write_text("[" * 80 + "]" * 80 + "\n")
    return path


@pytest.mark.parametrize("check", [True, False], ids=["config-check", "startup"])
@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_fifo_web_config, "{web}: not a regular file"),
        (
            _fifo_certificate,
            "{web}: tls_server_config.cert_file: not a regular file: {dir}/tls.crt",
        ),
        (_huge_web_config, "{web}: file is larger than 1 MiB"),
        (_deep_web_config, "{web}: line 1, column 65: nested deeper than 64 levels"),
    ],
    ids=["fifo", "fifo-certificate", "huge", "deep"],
)
def test_the_web_config_is_read_like_the_main_config(
    tmp_path: Path, make: Callable[[Path], Path], message: str, check: bool
) -> None:
    """A FIFO would block a plain read forever (open(2) waits for a writer): it is refused
    as the main config refuses it, within the size and depth limits of the main config."""
    web = make(tmp_path)
    config = tmp_path / "config.yml"
    config.write_text(yaml.safe_dump({"sources": [experiture_source("http://127.0.0.1:9")]}))
    argv = [COMMAND, f"--config.file={config}", f"--web.config.file={web}"]
    result = subprocess.run(
        argv + (["--config.check"] if check else []),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    expected = message.format(web=web, dir=tmp_path)
    assert result.stderr.splitlines() == [f"campaign-exporter: {expected}"]


def test_config_check_validates_the_web_config_too(tmp_path: Path) -> None:
    web = write_web_config(tmp_path, {"http_server_config": {"headers": {"Server": "x"}}})
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
        f'campaign-exporter: {web}: http_server_config.headers: header "Server" cannot be set: '
        "only Content-Security-Policy, Strict-Transport-Security, X-Content-Type-Options, "
        "X-Frame-Options or X-XSS-Protection can"
    ]
