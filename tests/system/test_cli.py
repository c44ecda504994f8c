"""The command line as a newcomer meets it: Prometheus-style help with defaults, a version
that names what was built, flags that would be ignored refused, and a health check that
follows the listen address and TLS."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import anyio
import bcrypt
import pytest
import trustme
import yaml

from exporter.cli.healthcheck import main_process_args, probe
from exporter.http.webconfig import load_web_config

from ..helpers import (
    COMMAND,
    ExporterProcess,
    config_of,
    experiture_source,
    running_exporter,
    running_simulator,
)


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [COMMAND, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **(env or {})},
    )


def test_help_shows_each_flag_with_its_default_as_prometheus_does() -> None:
    result = cli("--help")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "usage: campaign-exporter [<flags>]"
    assert '      --web.listen-address=":10123" ...' in lines  # repeatable
    assert '      --config.file="campaign-exporter.yml"' in lines
    assert (
        "      --log.level=info           Log at this level and above. One of: [debug, info, "
        "warn, error]"
    ) in lines
    assert any(line.startswith('      --web.config.file=""       TLS,') for line in lines)
    assert any(line.startswith("      --demo.speed=60            ") for line in lines)
    assert any(line.startswith("      --shard=0                  ") for line in lines)
    for placeholder in ("CONFIG_FILE", "LISTEN_ADDRESS", "LOG_LEVEL", "{debug", "DEMO_SPEED"):
        assert placeholder not in result.stdout


def test_version_names_revision_build_date_and_python() -> None:
    env = {
        "CAMPAIGN_EXPORTER_REVISION": "f00dfeed",
        "CAMPAIGN_EXPORTER_BUILD_DATE": "2030-01-02T03:04:05Z",
    }
    result = cli("--version", env=env)
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "campaign-exporter, version 0.1.0 (revision: f00dfeed)"
    assert lines[1] == "  build date:       2030-01-02T03:04:05Z"
    assert lines[2].startswith("  python version:   3.")
    assert lines[3].startswith("  platform:         linux/")


def test_version_in_a_source_tree_names_the_git_revision() -> None:
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[1],
        check=True,
    ).stdout.strip()
    env = {"CAMPAIGN_EXPORTER_REVISION": "", "CAMPAIGN_EXPORTER_BUILD_DATE": ""}
    first = cli("--version", env=env).stdout.splitlines()[0]
    assert first.startswith(f"campaign-exporter, version 0.1.0 (revision: {head}")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--demo", "--config.check"],
            "--demo runs against its own simulator and would ignore --config.check: drop "
            "them, or drop --demo",
        ),
        (
            ["--demo", "--shard=1", "--total-shards=2", "--web.config.file=web.yml"],
            "--demo runs against its own simulator and would ignore --web.config.file, "
            "--shard, --total-shards: drop them, or drop --demo",
        ),
        (
            ["--demo", "--config.file=prod.yml"],
            "--demo runs against its own simulator and would ignore --config.file: drop "
            "them, or drop --demo",
        ),
        (["--demo.campaigns=50"], "--demo.campaigns needs --demo"),
        (["--nope"], "unrecognized arguments: --nope (see --help)"),
        (["--shard=first"], '--shard: expected a whole number, got "first" (see --help)'),
        (
            ["--log.level=loud"],
            '--log.level: "loud" is not one of debug, info, warn, error (see --help)',
        ),
    ],
)
def test_a_command_line_that_would_not_do_what_it_says_is_refused(
    args: list[str], message: str
) -> None:
    result = cli(*args)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"campaign-exporter: {message}"]


def test_main_process_flags_are_read_from_proc(tmp_path: Path) -> None:
    (tmp_path / "1").mkdir()
    argv = [
        "/opt/venv/bin/python",
        "/opt/venv/bin/campaign-exporter",
        "--web.listen-address=:9999",
        "--config.file=/etc/x.yml",
    ]
    (tmp_path / "1" / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    assert main_process_args(tmp_path) == (
        ["--web.listen-address=:9999", "--config.file=/etc/x.yml"],
        tmp_path / "1" / "cwd",
    )
    (tmp_path / "1" / "cmdline").write_bytes(b"/sbin/tini\0--\0sleep\0")
    assert main_process_args(tmp_path) is None
    assert main_process_args(tmp_path / "absent") is None


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def web_config(directory: Path, ca: trustme.CA, **extra: Any) -> Path:
    leaf = ca.issue_cert("127.0.0.1")
    leaf.cert_chain_pems[0].write_to_path(str(directory / "server.crt"))
    leaf.private_key_pem.write_to_path(str(directory / "server.key"))
    ca.cert_pem.write_to_path(str(directory / "ca.crt"))
    tls = {"cert_file": "server.crt", "key_file": "server.key", **extra}
    path = directory / "web.yml"
    path.write_text(yaml.safe_dump({"tls_server_config": tls}))
    return path


async def probed(web: Path | None) -> str | None:
    """What the health check says of an exporter running with this web config."""
    async with running_simulator(experiture_campaigns=5) as (_sim, url):
        web_config = load_web_config(web) if web else None
        async with running_exporter(
            config_of(experiture_source(url)), web_config=web_config
        ) as exp:
            address = exp.url.removeprefix("http://")
            return await anyio.to_thread.run_sync(probe, address, web)


@pytest.mark.anyio
async def test_healthcheck_over_plain_http() -> None:
    assert await probed(None) is None


@pytest.mark.anyio
async def test_healthcheck_follows_tls(tmp_path: Path, ca: trustme.CA) -> None:
    assert await probed(web_config(tmp_path, ca)) is None


@pytest.mark.anyio
async def test_healthcheck_with_client_certificates_required(
    tmp_path: Path, ca: trustme.CA
) -> None:
    web = web_config(
        tmp_path, ca, client_auth_type="RequireAndVerifyClientCert", client_ca_file="ca.crt"
    )
    assert await probed(web) is None


@pytest.mark.anyio
async def test_healthcheck_with_basic_auth(tmp_path: Path) -> None:
    web = tmp_path / "web.yml"
    hashed = bcrypt.hashpw(b"secret", bcrypt.gensalt(4)).decode()
    web.write_text(yaml.safe_dump({"basic_auth_users": {"prometheus": hashed}}))
    assert await probed(web) is None


def test_healthcheck_of_nothing_listening_fails_with_one_line() -> None:
    problem = probe("127.0.0.1:9", None, timeout=2)
    assert problem == "http://127.0.0.1:9/-/healthy: Connection refused"
    result = cli("--healthcheck", "--web.listen-address=127.0.0.1:9")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "campaign-exporter: not healthy: http://127.0.0.1:9/-/healthy: Connection refused"
    ]


def test_healthcheck_command_against_a_running_exporter(tmp_path: Path, ca: trustme.CA) -> None:
    web = web_config(tmp_path, ca)
    config = tmp_path / "config.yml"
    config.write_text(yaml.safe_dump({"sources": [experiture_source("http://127.0.0.1:9")]}))
    with ExporterProcess(f"--config.file={config}", f"--web.config.file={web}") as exporter:
        port = exporter.base.rsplit(":", 1)[1]
        result = cli("--healthcheck", f"--web.listen-address=:{port}", f"--web.config.file={web}")
        plain = cli("--healthcheck", f"--web.listen-address=:{port}")
    assert (result.returncode, result.stderr) == (0, "")
    assert plain.returncode == 1, "plain HTTP to a TLS port gets no answer"
