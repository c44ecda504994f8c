"""--web.config.file through real processes: promtool's verdict on each fixture as a second
oracle, and the command's one-line refusals, at startup and in --config.check."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from ..helpers import COMMAND, experiture_source, require_binary
from ..webconfig_files import VERDICTS, Pki, materialize, write_web_config

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
