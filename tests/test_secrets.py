"""No credential in logs (debug level included), /metrics, the status page, error text or
a printed config."""

from __future__ import annotations

import pickle
import subprocess
from pathlib import Path

import pytest
import yaml

from exporter.config import parse_config, render_config
from exporter.secrets import Secret
from exporter.simulator import SimulatorSettings, SimulatorThread
from exporter.simulator.experiture import FULL_SCOPES
from exporter.simulator.faults import Fault

from .helpers import COMMAND, ExporterProcess

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
