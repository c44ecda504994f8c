"""The command on a config file: --config.check and --config.print, its one-line errors, and
hostile YAML refused within bounded memory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from exporter.config.loader import load_config, parse_config, render_config

from ..config_sections import source
from ..helpers import COMMAND, run_cli, write_config
from ..hostile_yaml import billion_laughs, deep_nesting


def test_the_example_config_without_its_secrets_is_told_in_one_run(tmp_path: Path) -> None:
    """The shipped file as it stands, its variable unset and its secret file absent: both
    in one --config.check (the variable's line used to hide the file's until a second)."""
    example = Path(__file__).parents[2] / "config.example.yaml"
    env = {k: v for k, v in os.environ.items() if k != "EXPERITURE_TOKEN"}
    result = subprocess.run(
        [COMMAND, "--config.check", f"--config.file={example}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"campaign-exporter: {example}: sources[0].authorization.credentials: environment "
        "variable EXPERITURE_TOKEN is not set",
        f"campaign-exporter: {example}: sources[1].basic_auth.password_file: file not found: "
        "/run/secrets/ga-key",
    ]


# Starts the command from a small process and prints its peak RSS: a child's peak counts
# the memory of whatever it was forked from (Linux carries the high-water mark across
# exec), and a test worker may have grown to hundreds of MB by then.
MEASURE = """
import os, sys
pid = os.fork()
if pid == 0:
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(usage.ru_maxrss)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_cli_measured(*args: str) -> tuple[int, str, int]:
    """Exit code, stderr and peak RSS in KiB of one ``campaign-exporter`` run."""
    proc = subprocess.Popen(
        [sys.executable, "-c", MEASURE, COMMAND, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:  # a deadline, so a regression fails, not hangs
        stdout, stderr = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return proc.returncode, stderr, int(stdout)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (deep_nesting(), "line 1, column 73: nested deeper than 64 levels"),
        (billion_laughs(), "YAML aliases expand to more than 100000 values"),
    ],
    ids=["deep nesting", "billion laughs"],
)
@pytest.mark.parametrize("mode", ["--config.check", "--log.level=info"], ids=["check", "start"])
def test_hostile_yaml_is_refused_in_one_line_and_bounded_memory(
    tmp_path: Path, text: str, message: str, mode: str
) -> None:
    """The old code died of RecursionError on the first and grew past 3 GB on the second."""
    path = write_config(tmp_path, text)
    code, stderr, peak_kib = run_cli_measured(f"--config.file={path}", mode)
    assert code == 1
    assert stderr.splitlines() == [f"campaign-exporter: {path}: {message}"]
    assert peak_kib < 300 * 1024, f"peak RSS {peak_kib} KiB"


def test_cli_error_lines_stay_one_line(tmp_path: Path) -> None:
    """A key quoted from the file cannot split an error over two lines."""
    path = write_config(tmp_path, {"sources": [source()], "bad\nkey": 1})
    result = run_cli(f"--config.file={path}", "--config.check")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"campaign-exporter: {path}: bad\\nkey: unknown key"]


def test_cli_bad_config_exits_1_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"sources": [source(poll_interval="soon")]})
    result = run_cli(f"--config.file={path}")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f'campaign-exporter: {path}: sources[0].poll_interval: invalid duration "soon": '
        "expected a string like 30s, 5m or 1h30m"
    ]
    assert "Traceback" not in result.stdout + result.stderr


def test_cli_missing_config_file_is_named_once(tmp_path: Path) -> None:
    result = run_cli(f"--config.file={tmp_path}/absent.yml", "--config.check")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"campaign-exporter: {tmp_path}/absent.yml: file not found"
    ]


def test_no_arguments_and_no_config_points_at_demo_and_help(tmp_path: Path) -> None:
    result = subprocess.run(
        [COMMAND], capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "campaign-exporter: campaign-exporter.yml: file not found (no --config.file given; "
        "--demo runs the exporter against its built-in simulator, --help lists the flags)"
    ]


def test_cli_config_check_accepts_a_good_file(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"sources": [source()]})
    result = run_cli(f"--config.file={path}", "--config.check")
    assert result.returncode == 0, result.stderr
    assert "config OK (1 sources)" in result.stdout


def test_printed_config_hides_secrets(tmp_path: Path) -> None:
    path = write_config(
        tmp_path, {"sources": [source(authorization={"credentials": "super-secret-token"})]}
    )
    result = run_cli(f"--config.file={path}", "--config.print", "--log.level=debug")
    assert result.returncode == 0, result.stderr
    assert "super-secret-token" not in result.stdout + result.stderr
    assert "<secret>" in result.stdout
    assert parse_config(yaml.safe_load(result.stdout.replace("<secret>", "x"))).sources
    assert render_config(parse_config(yaml.safe_load(path.read_text()))) == result.stdout


def test_bad_listen_address_is_one_line(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"sources": [source()]})
    result = run_cli(f"--config.file={path}", "--web.listen-address=nowhere")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        'campaign-exporter: --web.listen-address: invalid listen address "nowhere": '
        "expected host:port"
    )


def test_printed_config_loads_back_to_the_same_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the secrets put back. The old output dropped ``discovery.status: null``, which
    read back as the default ``published``."""
    monkeypatch.setenv("ROUND_TRIP_TOKEN", "env-s3cret")
    key_file = tmp_path / "ga-key"
    key_file.write_text("file-s3cret\n")
    experiture = source(
        authorization={"credentials": "${ROUND_TRIP_TOKEN}"},
        discovery={"status": None, "channels": ["email"]},
        campaigns=["a$$b", "c-2"],
        poll_interval="300ms",
        timeout=0.00001,
        retention="1h30m",
        rate_limit={"requests_per_second": 2.5, "burst": 3},
        polling={"adaptive": False, "settle_for": "90s"},
    )
    oauth = source(
        name="oauth",
        authorization=None,
        oauth2={
            "token_url": "https://id.example.com/token",
            "client_id": "c",
            "client_secret": "${ROUND_TRIP_TOKEN}",
            "scopes": ["campaigns:read"],
            "endpoint_params": {"audience": "x$$y"},
        },
    )
    ga = {
        "name": "ga",
        "type": "greenarrow",
        "base_url": "https://ga.example.com",
        "basic_auth": {"username": "1", "password_file": str(key_file)},
        "lookback": "2w",
    }
    path = write_config(tmp_path, {"sources": [experiture, oauth, ga]})
    result = run_cli(f"--config.file={path}", "--config.print")
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load(result.stdout)["sources"][0]["discovery"]["status"] is None
    assert "s3cret" not in result.stdout
    printed = tmp_path / "printed.yml"
    printed.write_text(result.stdout.replace("<secret>", "${ROUND_TRIP_TOKEN}"))
    loaded = load_config(printed)
    assert loaded == load_config(path)
    assert loaded.sources[0].discovery.status is None  # type: ignore[attr-defined]
    assert loaded.sources[0].campaigns == ["a$b", "c-2"]  # type: ignore[attr-defined]
    assert loaded.sources[0].timeout == 0.00001
