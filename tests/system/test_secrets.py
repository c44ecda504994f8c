"""No credential in logs (debug level included), /metrics, the status page, error text or
a printed config."""

from __future__ import annotations

import os
import pickle
import subprocess
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
import yaml

from exporter.config.errors import ConfigError
from exporter.config.loader import parse_config, render_config
from exporter.config.schema import Authorization
from exporter.config.secrets import Secret, SecretFileError, SecretRef
from exporter.simulator import SimulatorSettings, SimulatorThread
from exporter.simulator.experiture import FULL_SCOPES
from exporter.simulator.faults import Fault

from ..helpers import COMMAND, ExporterProcess, wait_for_sync

STATIC = "static-token-s3cret-ABC"
CLIENT_SECRET = "oauth-client-s3cret-XYZ"
GA_KEY = "ga-key-s3cret-DEF"
WRONG = "wrong-token-s3cret-GHI"
SECRETS = (STATIC, CLIENT_SECRET, GA_KEY, WRONG)


def test_secret_never_prints_itself() -> None:
    secret = Secret("hunter2")
    assert str(secret) == repr(secret) == f"{secret}" == "<secret>"
    assert "hunter2" not in repr([secret, {"k": secret}])
    with pytest.raises(TypeError):
        pickle.dumps(secret)
    config = parse_config(
        {
            "sources": [
                {
                    "name": "p",
                    "type": "experiture",
                    "base_url": "https://x.example",
                    "authorization": {"credentials": "hunter2"},
                }
            ]
        }
    )
    assert "hunter2" not in repr(config) + str(config) + render_config(config)


def test_no_credential_anywhere_the_exporter_writes(tmp_path: Path) -> None:
    thread = SimulatorThread(
        SimulatorSettings(experiture_campaigns=30, greenarrow_campaigns=30, speed=0)
    )
    thread.sim.experiture.static_tokens[STATIC] = FULL_SCOPES
    thread.sim.experiture.clients["ci-client"] = (CLIENT_SECRET, FULL_SCOPES)
    thread.sim.greenarrow.api_key = GA_KEY
    thread.sim.faults.add(Fault(kind="http_5xx", endpoint="status", probability=0.3))
    with thread as sim:
        secret_file = tmp_path / "client-secret"
        secret_file.write_text(CLIENT_SECRET + "\n")
        config = tmp_path / "config.yml"
        config.write_text(
            yaml.safe_dump(
                {
                    "sources": [
                        {
                            "name": "static",
                            "type": "experiture",
                            "base_url": f"{sim.url}/public/v1",
                            "authorization": {"credentials": STATIC},
                            "poll_interval": "200ms",
                        },
                        {
                            "name": "oauth",
                            "type": "experiture",
                            "base_url": f"{sim.url}/public/v1",
                            "poll_interval": "200ms",
                            "oauth2": {
                                "token_url": f"{sim.url}/oauth/token",
                                "client_id": "ci-client",
                                "client_secret_file": str(secret_file),
                            },
                        },
                        {
                            "name": "ga",
                            "type": "greenarrow",
                            "base_url": sim.url,
                            "basic_auth": {"username": "1", "password": GA_KEY},
                            "poll_interval": "200ms",
                        },
                        {
                            "name": "refused",
                            "type": "experiture",
                            "base_url": f"{sim.url}/public/v1",
                            "authorization": {"credentials": WRONG},
                            "poll_interval": "200ms",
                        },
                        {
                            "name": "refused-ga",
                            "type": "greenarrow",
                            "base_url": sim.url,
                            "basic_auth": {"username": "1", "password": WRONG},
                            "poll_interval": "200ms",
                        },
                    ]
                }
            )
        )
        outputs = []
        for flag in ("--config.check", "--config.print"):
            done = subprocess.run(
                [COMMAND, f"--config.file={config}", flag, "--log.level=debug"],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert done.returncode == 0, done.stderr
            outputs += [done.stdout, done.stderr]
        with ExporterProcess(
            f"--config.file={config}", "--log.level=debug", "--log.format=json"
        ) as exporter:
            exporter.wait_ready()  # every source has finished a refresh
            outputs += [exporter.get("/metrics")[1], exporter.get("/")[1]]
        outputs += exporter.lines
    text = "\n".join(outputs)
    assert "refused the credentials" in text  # the failures were written, and seen here
    assert '"msg": "upstream request"' in text  # debug lines were written
    for secret in SECRETS:
        assert secret not in text, secret


def token_file(path: Path) -> SecretRef:
    return Authorization(credentials_file=path).secret()


def fifo(directory: Path) -> Path:
    os.mkfifo(directory / "fifo")
    return directory / "fifo"


def oversized(directory: Path) -> Path:
    (directory / "big").write_text("x" * (64 * 1024 + 1))
    return directory / "big"


def binary(directory: Path) -> Path:
    (directory / "bin").write_bytes(STATIC.encode() + b"\xff")
    return directory / "bin"


UNREADABLE_SECRETS: list[tuple[str, Callable[[Path], Path], str]] = [
    ("missing", lambda d: d / "absent", "file not found"),
    ("a FIFO", fifo, "not a regular file"),
    ("a directory", lambda d: d, "not a regular file"),
    ("a device", lambda _: Path("/dev/null"), "not a regular file"),
    ("over 64 KiB", oversized, "file is larger than 64 KiB"),
    ("not UTF-8", binary, "not UTF-8 text"),
]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("make", "problem"),
    [c[1:] for c in UNREADABLE_SECRETS],
    ids=[c[0] for c in UNREADABLE_SECRETS],
)
async def test_unreadable_secret_file_is_one_line_naming_the_key(
    tmp_path: Path, make: Callable[[Path], Path], problem: str
) -> None:
    path = make(tmp_path)
    with anyio.fail_after(10), pytest.raises(SecretFileError) as caught:
        await token_file(path).get()
    assert str(caught.value) == f"authorization.credentials_file: {problem}: {path}"


@pytest.mark.anyio
async def test_a_rewritten_secret_file_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("first\n")
    ref = token_file(path)
    assert (await ref.get()).reveal() == "first"
    path.write_text("second\n")
    assert (await ref.get()).reveal() == "second"


def test_config_check_refuses_an_oversized_secret_file(tmp_path: Path) -> None:
    path = oversized(tmp_path)
    source = {
        "name": "p",
        "type": "experiture",
        "base_url": "https://x.example",
        "authorization": {"credentials_file": str(path)},
    }
    with pytest.raises(ConfigError) as caught:
        parse_config({"sources": [source]})
    assert caught.value.lines == [
        f"sources[0].authorization.credentials_file: file is larger than 64 KiB: {path}"
    ]


def test_a_secret_file_turned_fifo_does_not_freeze_the_exporter(tmp_path: Path) -> None:
    """The old code opened the FIFO on the event loop and stopped answering for good."""
    token = tmp_path / "token"
    token.write_text("demo-token\n")
    with SimulatorThread(SimulatorSettings(experiture_campaigns=5, speed=0)) as sim:
        config = tmp_path / "config.yml"
        source = {
            "name": "prod",
            "type": "experiture",
            "base_url": f"{sim.url}/public/v1",
            "authorization": {"credentials_file": str(token)},
            "poll_interval": "200ms",
        }
        config.write_text(yaml.safe_dump({"sources": [source]}))
        with ExporterProcess(f"--config.file={config}") as exporter:
            exporter.wait_ready()
            token.unlink()
            os.mkfifo(token)
            wait_source_up(exporter, 0)
            problem = f"authorization.credentials_file: not a regular file: {token}"
            assert any(problem in line for line in exporter.lines)
            token.unlink()
            token.write_text("demo-token\n")
            wait_source_up(exporter, 1)
    assert "demo-token" not in "".join(exporter.lines)


def wait_source_up(exporter: ExporterProcess, up: float) -> None:
    name = "campaign_exporter_source_up"
    wait_for_sync(lambda: exporter.scrape([name]).value(name) == up, f"source_up to be {up:g}")
