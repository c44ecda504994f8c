"""The command line as a newcomer meets it: Prometheus-style help with defaults, a version
that names what was built, flags that would be ignored refused, and a health check that
follows the listen address and TLS."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import trustme
import yaml

from exporter.cli.healthcheck import probe

from ..helpers import COMMAND, ExporterProcess, experiture_source
from ..webconfig_files import web_config


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
