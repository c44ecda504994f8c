"""End to end on the real binaries: simulator -> exporter -> Prometheus (rules) ->
Alertmanager -> a webhook this test runs. A campaign made to fail must page; the healthy
fleet must not; every dashboard query must return data from that Prometheus.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.simulator import SimulatorSettings, SimulatorThread

from .helpers import COMMAND, require_binary

ROOT = Path(__file__).parent.parent
DEADLINE = 90.0
# Dashboard panels whose query may rightly return nothing here, with the reason.
MAY_BE_EMPTY: dict[str, str] = {}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - loopback URL
        return json.loads(resp.read())


def wait_for(check: Any, what: str, deadline: float = DEADLINE) -> Any:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        with contextlib.suppress(OSError, ValueError):
            result = check()
            if result:
                return result
        time.sleep(0.1)
    pytest.fail(f"timed out after {deadline:g}s waiting for {what}")


@contextlib.contextmanager
def process(args: list[str], log: Path, ready_url: str) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        try:

            def ready() -> bool:
                assert proc.poll() is None, f"{args[0]} exited: {log.read_text()[-2000:]}"
                with urllib.request.urlopen(ready_url, timeout=2):  # noqa: S310 - loopback
                    return True

            wait_for(ready, f"{Path(args[0]).name} to be ready")
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class Webhook:
    """Alertmanager's webhook receiver: records every notification with its arrival time."""

    def __init__(self) -> None:
        self.received: list[tuple[float, dict[str, Any]]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hook.received.append((time.monotonic(), json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def alerts(self) -> list[tuple[float, dict[str, Any]]]:
        return [(t, a) for t, body in list(self.received) for a in body["alerts"]]


def alertmanager_binary() -> str:
    if shutil.which("prometheus-alertmanager"):  # Debian's name for it
        return require_binary("prometheus-alertmanager")
    return require_binary("alertmanager")


def dashboard_queries(values: dict[str, str]) -> list[tuple[str, str]]:
    out = []
    for path in sorted((ROOT / "grafana" / "dashboards").glob("*.json")):
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel["targets"]:
                expr = target["expr"]
                for name, value in values.items():
                    expr = expr.replace(f"${name}", value)
                out.append((f"{board['title']} / {panel['title']}", expr))
    return out


def test_failed_campaign_pages_and_dashboards_have_data(tmp_path: Path) -> None:
    prometheus, promtool = require_binary("prometheus"), require_binary("promtool")
    alertmanager = alertmanager_binary()
    hook = Webhook()
    settings = SimulatorSettings(
        experiture_campaigns=60, greenarrow_campaigns=60, speed=1.0, healthy=True
    )
    with SimulatorThread(settings) as sim:
        exporter_port, prom_port, am_port = free_port(), free_port(), free_port()
        config = tmp_path / "exporter.yml"
        config.write_text(
            yaml.safe_dump(
                {
                    "sources": [
                        {
                            "name": "prod",
                            "type": "experiture",
                            "base_url": f"{sim.url}/public/v1",
                            "authorization": {"credentials": "demo-token"},
                            "poll_interval": "1s",
                            "timeout": "1s",
                        },
                        {
                            "name": "ga",
                            "type": "greenarrow",
                            "base_url": sim.url,
                            "poll_interval": "1s",
                            "timeout": "1s",
                            "basic_auth": {"username": "1", "password": "demo-ga-key"},
                        },
                    ]
                }
            )
        )
        am_config = tmp_path / "alertmanager.yml"
        am_config.write_text(
            yaml.safe_dump(
                {
                    "route": {
                        "receiver": "test",
                        "group_by": ["alertname", "source", "campaign_id"],
                        "group_wait": "1s",
                        "group_interval": "1s",
                        "repeat_interval": "1h",
                    },
                    "receivers": [
                        {
                            "name": "test",
                            "webhook_configs": [{"url": hook.url, "send_resolved": False}],
                        }
                    ],
                }
            )
        )
        prom_config = tmp_path / "prometheus.yml"
        prom_config.write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "rule_files": [
                        str(ROOT / "prometheus" / "alerts.yml"),
                        str(ROOT / "prometheus" / "rules.yml"),
                    ],
                    "alerting": {
                        "alertmanagers": [
                            {"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}
                        ]
                    },
                    "scrape_configs": [
                        {
                            "job_name": "campaign-exporter",
                            "static_configs": [{"targets": [f"127.0.0.1:{exporter_port}"]}],
                        }
                    ],
                }
            )
        )
        check = subprocess.run(
            [promtool, "check", "config", str(prom_config)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert check.returncode == 0, check.stdout + check.stderr
        prom_url = f"http://127.0.0.1:{prom_port}"

        with (
            process(
                [
                    COMMAND,
                    f"--config.file={config}",
                    f"--web.listen-address=127.0.0.1:{exporter_port}",
                ],
                tmp_path / "exporter.log",
                f"http://127.0.0.1:{exporter_port}/-/ready",
            ),
            process(
                [
                    alertmanager,
                    f"--config.file={am_config}",
                    f"--storage.path={tmp_path / 'am'}",
                    f"--web.listen-address=127.0.0.1:{am_port}",
                    "--cluster.listen-address=",
                ],
                tmp_path / "alertmanager.log",
                f"http://127.0.0.1:{am_port}/-/ready",
            ),
            process(
                [
                    prometheus,
                    f"--config.file={prom_config}",
                    f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}",
                ],
                tmp_path / "prometheus.log",
                f"{prom_url}/-/ready",
            ),
        ):

            def query(expr: str) -> list[Any]:
                q = urllib.parse.urlencode({"query": expr})
                body = get_json(f"{prom_url}/api/v1/query?{q}")
                assert body["status"] == "success", body
                return list(body["data"]["result"])

            wait_for(
                lambda: query(
                    "count(experiture_campaign_info) > 0 and "
                    "count(rate(campaign_exporter_upstream_requests_total[1m])) > 0"
                    " and count(source_organization:greenarrow_bounce:ratio) > 0"
                ),
                "Prometheus to have the exporter's series, rates and recording rules",
            )
            truth = get_json(f"{sim.url}/_sim/experiture/truth")["campaigns"]
            victim = next(
                c["campaign_id"]
                for c in truth
                if c["state"] == "running"
                and c["campaign_type"] == "broadcast"
                and c["authoring_status"] == "published"
            )
            assert not hook.alerts(), "a healthy fleet raised an alert"

            request = urllib.request.Request(  # noqa: S310 - loopback URL
                f"{sim.url}/_sim/experiture/campaigns/{victim}/fail", method="POST"
            )
            with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - loopback URL
                failed_at = time.monotonic()

            def paged() -> float | None:
                for arrived, alert in hook.alerts():
                    labels = alert["labels"]
                    if (
                        labels["alertname"] == "CampaignExecutionFailed"
                        and labels["campaign_id"] == victim
                    ):
                        return arrived
                return None

            arrived = wait_for(paged, "CampaignExecutionFailed at the webhook")
            print(f"\nfailure-to-page: {arrived - failed_at:.2f}s")
            names = {a["labels"]["alertname"] for _, a in hook.alerts()}
            assert names == {"CampaignExecutionFailed"}
            [page] = [a for _, a in hook.alerts()]
            assert page["labels"]["severity"] == "critical"
            assert page["annotations"]["runbook_url"].endswith("#campaignexecutionfailed")
            active = get_json(f"{prom_url}/api/v1/alerts")["data"]["alerts"]
            assert {a["labels"]["alertname"] for a in active} == {"CampaignExecutionFailed"}
            assert {a["labels"]["campaign_id"] for a in active} == {victim}

            values = {
                "job": "campaign-exporter",
                "instance": ".*",
                "source": ".*",
                "organization": ".*",
                "campaign": victim,
                "__rate_interval": "1m",
                "datasource": "",
            }
            empty = [title for title, expr in dashboard_queries(values) if not query(expr)]
            assert sorted(empty) == sorted(MAY_BE_EMPTY), empty
