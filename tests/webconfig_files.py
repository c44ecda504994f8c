"""Web config files for the tests: the exporter-toolkit fixtures (tests/fixtures/webconfig)
next to certificates from a CA made in the test, the verdict expected on each, and the
small files and headers the TLS and basic-auth tests write."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trustme
import yaml

FIXTURES = Path(__file__).parent / "fixtures" / "webconfig"


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


def write_web_config(directory: Path, data: dict[str, Any]) -> Path:
    path = directory / "web.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def web_config(directory: Path, ca: trustme.CA, **extra: Any) -> Path:
    """A web config serving a certificate from ``ca`` (its CA beside it as ca.crt)."""
    leaf = ca.issue_cert("127.0.0.1")
    leaf.cert_chain_pems[0].write_to_path(str(directory / "server.crt"))
    leaf.private_key_pem.write_to_path(str(directory / "server.key"))
    ca.cert_pem.write_to_path(str(directory / "ca.crt"))
    tls = {"cert_file": "server.crt", "key_file": "server.key", **extra}
    path = directory / "web.yml"
    path.write_text(yaml.safe_dump({"tls_server_config": tls}))
    return path
