"""No credential in the process's logs (debug level included), /metrics, the status page,
error text or a printed config; a secret file turned FIFO does not freeze it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml

from exporter.simulator import SimulatorSettings, SimulatorThread
from exporter.simulator.experiture import FULL_SCOPES
from exporter.simulator.faults import Fault

from ..helpers import COMMAND, ExporterProcess, wait_for_sync

STATIC = "static-token-s3cret-ABC"
CLIENT_SECRET = "oauth-client-s3cret-XYZ"
GA_KEY = "ga-key-s3cret-DEF"
WRONG = "wrong-token-s3cret-GHI"
SECRETS = (STATIC, CLIENT_SECRET, GA_KEY, WRONG)


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
