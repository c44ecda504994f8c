"""End to end on the real binaries: simulator -> exporter -> Prometheus (rules) ->
Alertmanager -> a webhook this test runs, the simulator serving only what the vendors
document. A campaign made to fail must page; the healthy fleet must not; every dashboard
query (panels, annotations, variables) must return data from that Prometheus, and the
campaign picker must list the campaign by name; a GreenArrow failure seen while watching
pages, an old one seen first after a restart does not; an HA pair pages once; a restart
on the same books (--storage.path) pages each failure once.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from exporter.simulator import SimulatorSettings, SimulatorThread

from ..helpers import COMMAND, age_books, free_port, require_binary, wait_for_sync

ROOT = Path(__file__).parents[2]
DEADLINE = 90.0
# What the dashboards' variables are set to; $campaign is set per run.
BOARD_VALUES = {
    "job": "campaign-exporter",
    "instance": ".*",
    "source": ".*",
    "organization": ".*",
    "__rate_interval": "1m",
    "datasource": "",
}
# Dashboard panels whose query may rightly return nothing here, with the reason.
MAY_BE_EMPTY: dict[str, str] = {}


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - loopback URL
        return json.loads(resp.read())


def wait_for(check: Any, what: str, deadline: float = DEADLINE) -> Any:
    return wait_for_sync(check, what, deadline, ignore=(OSError, ValueError))


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


def boards() -> list[dict[str, Any]]:
    return [
        json.loads(p.read_text()) for p in sorted((ROOT / "grafana" / "dashboards").glob("*.json"))
    ]


def as_promql(query: str) -> str:
    """A variable's query as the instant query whose result it lists."""
    if match := re.fullmatch(r"label_values\((.+), (\w+)\)", query):
        return f"count by({match[2]}) ({match[1]})"
    if match := re.fullmatch(r"query_result\((.+)\)", query):
        return match[1]
    raise AssertionError(f"a variable query this test does not know: {query}")


def dashboard_queries(values: dict[str, str]) -> list[tuple[str, str]]:
    """Every query the boards run: panel targets, annotations, and query variables."""
    out = []
    for board in boards():
        found = [(p["title"], t["expr"]) for p in board["panels"] for t in p["targets"]]
        found += [(f"annotation {a['name']}", a["expr"]) for a in board["annotations"]["list"]]
        found += [
            (f"variable {v['name']}", as_promql(v["query"]["query"]))
            for v in board["templating"]["list"]
            if v["type"] == "query"
        ]
        for title, expr in found:
            for name, value in values.items():
                expr = expr.replace(f"${name}", value)
            out.append((f"{board['title']} / {title}", expr))
    return out


def campaign_choices(query: Any) -> dict[str, str]:
    """The campaign picker's options, value -> text, as Grafana makes them: the
    query_result rows rendered as Grafana renders them, through the variable's regex."""
    [board] = [b for b in boards() if b["uid"] == "campaign-exporter-campaign"]
    [picker] = [v for v in board["templating"]["list"] if v["name"] == "campaign"]
    expr = as_promql(picker["query"]["query"])
    for name, value in {"job": "campaign-exporter", "instance": ".*", "source": ".*"}.items():
        expr = expr.replace(f"${name}", value)
    pattern = re.compile(picker["regex"][1:-1].replace("(?<", "(?P<"))
    choices = {}
    for row in query(expr):
        labels = ",".join(f'{k}="{v}"' for k, v in row["metric"].items() if k != "__name__")
        text = f"{{{labels}}} {row['value'][1]} {int(row['value'][0] * 1000)}"
        if match := pattern.search(text):
            choices[match["value"]] = match["text"]
    return choices


def exporter_config(tmp_path: Path, sim_url: str) -> Path:
    config = tmp_path / "exporter.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "sources": [
                    {
                        "name": "prod",
                        "type": "experiture",
                        "base_url": f"{sim_url}/public/v1",
                        "authorization": {"credentials": "demo-token"},
                        "poll_interval": "1s",
                        "timeout": "1s",
                    },
                    {
                        "name": "ga",
                        "type": "greenarrow",
                        "base_url": sim_url,
                        "poll_interval": "1s",
                        "timeout": "1s",
                        "basic_auth": {"username": "1", "password": "demo-ga-key"},
                    },
                ]
            }
        )
    )
    return config


def run_exporter(
    config: Path, port: int, log: Path, *flags: str
) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    return process(
        [COMMAND, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}", *flags],
        log,
        f"http://127.0.0.1:{port}/-/ready",
    )


def mixin_rules(tmp_path: Path, overrides: str) -> Path:
    """The mixin's rules made by its own generator with ``overrides`` (short waits, so that
    a test takes seconds): the directory holding alerts.yml and rules.yml."""
    rules = tmp_path / "rules"
    config = tmp_path / "mixin.yml"
    config.write_text(overrides)
    generated = subprocess.run(
        [sys.executable, ROOT / "prometheus" / "mixin.py", "--config", config, "--out", rules],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert generated.returncode == 0, generated.stderr
    return rules


class Stack:
    """A real Prometheus (with the rules) scraping exporters as targets of one job, and a
    real Alertmanager notifying a webhook, grouped by alertname, source and campaign_id."""

    def __init__(self, prom_url: str, am_url: str, hook: Webhook) -> None:
        self.prom_url, self.am_url, self.hook = prom_url, am_url, hook

    def query(self, expr: str) -> list[Any]:
        q = urllib.parse.urlencode({"query": expr})
        body = get_json(f"{self.prom_url}/api/v1/query?{q}")
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    def active(self) -> list[dict[str, Any]]:
        return list(get_json(f"{self.prom_url}/api/v1/alerts")["data"]["alerts"])


@contextlib.contextmanager
def alerting_stack(
    tmp_path: Path, exporter_ports: list[int], rules: Path = ROOT / "prometheus"
) -> Iterator[Stack]:
    prometheus, promtool = require_binary("prometheus"), require_binary("promtool")
    hook = Webhook()
    prom_port, am_port = free_port(), free_port()
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
                    {"name": "test", "webhook_configs": [{"url": hook.url, "send_resolved": False}]}
                ],
            }
        )
    )
    prom_config = tmp_path / "prometheus.yml"
    prom_config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(rules / "alerts.yml"), str(rules / "rules.yml")],
                "alerting": {
                    "alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]
                },
                "scrape_configs": [
                    {
                        "job_name": "campaign-exporter",
                        "static_configs": [
                            {"targets": [f"127.0.0.1:{port}" for port in exporter_ports]}
                        ],
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
    prom_url, am_url = f"http://127.0.0.1:{prom_port}", f"http://127.0.0.1:{am_port}"
    with (
        process(
            [
                alertmanager_binary(),
                f"--config.file={am_config}",
                f"--storage.path={tmp_path / 'am'}",
                f"--web.listen-address=127.0.0.1:{am_port}",
                "--cluster.listen-address=",
            ],
            tmp_path / "alertmanager.log",
            f"{am_url}/-/ready",
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
        yield Stack(prom_url, am_url, hook)


def test_failed_campaign_pages_and_dashboards_have_data(tmp_path: Path) -> None:
    settings = SimulatorSettings(
        experiture_campaigns=60, greenarrow_campaigns=60, speed=1.0, healthy=True
    )
    with SimulatorThread(settings) as sim:
        exporter_port = free_port()
        config = exporter_config(tmp_path, sim.url)
        exporter_log = tmp_path / "exporter.log"
        with alerting_stack(tmp_path, [exporter_port]) as stack:
            query, hook, prom_url = stack.query, stack.hook, stack.prom_url
            with run_exporter(config, exporter_port, exporter_log):
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

                post(f"{sim.url}/_sim/experiture/campaigns/{victim}/fail")
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
                active = stack.active()
                assert {a["labels"]["alertname"] for a in active} == {"CampaignExecutionFailed"}
                assert {a["labels"]["campaign_id"] for a in active} == {victim}

                ga_failed = on_documented_shape(sim.url, query, hook, prom_url)

                # The campaign board shows either vendor's campaign: each query must
                # return data for the Experiture victim or the failed GreenArrow one.
                empty = set.intersection(
                    *(
                        {title for title, expr in dashboard_queries(values) if not query(expr)}
                        for values in (
                            {**BOARD_VALUES, "campaign": victim},
                            {**BOARD_VALUES, "campaign": ga_failed},
                        )
                    )
                )
                assert sorted(empty) == sorted(MAY_BE_EMPTY), empty
                campaign_names = {
                    c["campaign_id"]: c["name"]
                    for vendor in ("experiture", "greenarrow")
                    for c in get_json(f"{sim.url}/_sim/{vendor}/truth")["campaigns"]
                }
                choices = campaign_choices(query)
                assert choices[victim] == campaign_names[victim]
                assert choices[ga_failed] == campaign_names[ga_failed]

            # A restart: a GreenArrow campaign that started days ago fails while the exporter is
            # down. The report has no timestamps; the exporter first sees it failed, in its
            # oldest start window: it must not page.
            ga = get_json(f"{sim.url}/_sim/greenarrow/truth")["campaigns"]
            now = time.time()
            old = next(
                c["campaign_id"]
                for c in ga
                if c["state"] == "finished"
                and now - 20 * 86400 < c["started_at"] < now - 2 * 86400  # in the lookback
            )
            post(f"{sim.url}/_sim/greenarrow/campaigns/{old}/fail")
            with run_exporter(config, exporter_port, exporter_log):
                seen = f'greenarrow_campaign_state{{campaign_id="{old}",state="failed"}} == 1'
                wait_for(lambda: query(seen), "Prometheus to see the old failure after the restart")
                evaluated_after(prom_url, time.time() + 3)
                assert not query(
                    f'ALERTS{{alertname="GreenArrowCampaignFailed",campaign_id="{old}"}}'
                )
                assert not [a for _, a in hook.alerts() if a["labels"].get("campaign_id") == old]


def running_broadcasts(campaigns: list[dict[str, Any]]) -> list[str]:
    """The simulator's running, published broadcasts (those the exporter shows), by id."""
    return [
        c["campaign_id"]
        for c in campaigns
        if c["state"] == "running"
        and c["campaign_type"] == "broadcast"
        and c["authoring_status"] == "published"
    ]


def test_an_ha_pair_pages_once_per_failed_campaign(tmp_path: Path) -> None:
    """Two replicas with the same config against one simulator, scraped as two targets of
    one job: each failed campaign is one alert in Prometheus, one in Alertmanager, and one
    notification at the webhook (two, or one carrying two alerts, if the rules kept
    ``instance``)."""
    settings = SimulatorSettings(
        experiture_campaigns=60, greenarrow_campaigns=60, speed=1.0, healthy=True
    )
    with SimulatorThread(settings) as sim:
        ports = [free_port(), free_port()]
        config = exporter_config(tmp_path, sim.url)
        with (
            alerting_stack(tmp_path, ports) as stack,
            run_exporter(config, ports[0], tmp_path / "exporter-a.log"),
            run_exporter(config, ports[1], tmp_path / "exporter-b.log"),
        ):
            both = (
                'count(count by(instance) (experiture_campaign_info{job="campaign-exporter"})) == 2'
                ' and count(count by(instance) (greenarrow_campaign_info{job="campaign-exporter"}))'
                " == 2"
            )
            wait_for(lambda: stack.query(both), "Prometheus to scrape both replicas")
            exp = get_json(f"{sim.url}/_sim/experiture/truth")["campaigns"]
            ga = get_json(f"{sim.url}/_sim/greenarrow/truth")["campaigns"]
            failing = dict.fromkeys(
                running_broadcasts(exp)[:2],
                ("CampaignExecutionFailed", "experiture_campaign_execution_state"),
            )
            sending = next(c for c in ga if c["state"] == "sending" and not c["paused"])
            failing[sending["campaign_id"]] = (
                "GreenArrowCampaignFailed",
                "greenarrow_campaign_state",
            )
            assert len(failing) == 3
            assert not stack.hook.alerts(), "a healthy fleet raised an alert"
            for campaign_id, (_, metric) in failing.items():
                vendor = "experiture" if metric.startswith("experiture") else "greenarrow"
                post(f"{sim.url}/_sim/{vendor}/campaigns/{campaign_id}/fail")

            # Both replicas export every failure, the rules ran after that, and Alertmanager
            # holds what Prometheus fires: nothing more can change what is sent.
            for campaign_id, (_, metric) in failing.items():
                seen = f'count({metric}{{campaign_id="{campaign_id}",state="failed"}} == 1) == 2'
                wait_for(
                    lambda q=seen: stack.query(q), f"both replicas to export {campaign_id} failed"
                )
            evaluated_after(stack.prom_url, time.time() + 1)

            def firing() -> set[frozenset[tuple[str, str]]]:
                return {
                    frozenset(a["labels"].items()) for a in stack.active() if a["state"] == "firing"
                }

            def in_alertmanager() -> set[frozenset[tuple[str, str]]]:
                return {
                    frozenset(a["labels"].items())
                    for a in get_json(f"{stack.am_url}/api/v2/alerts")
                }

            wait_for(
                lambda: len(firing()) >= 3 and in_alertmanager() == firing(),
                "Alertmanager to hold every alert Prometheus fires",
            )
            per_campaign = {
                campaign_id: [
                    dict(labels)
                    for labels in firing()
                    if dict(labels).get("campaign_id") == campaign_id
                ]
                for campaign_id in failing
            }
            for campaign_id, (alertname, _) in failing.items():
                alerts = per_campaign[campaign_id]
                assert len(alerts) == 1, f"one alert per replica: {alerts}"
                assert alerts[0]["alertname"] == alertname
                assert "instance" not in alerts[0]
            assert sum(map(len, per_campaign.values())) == len(firing())

            def notified() -> dict[str, list[dict[str, Any]]]:
                out: dict[str, list[dict[str, Any]]] = {}
                for _, body in list(stack.hook.received):
                    [campaign_id] = {a["labels"]["campaign_id"] for a in body["alerts"]}
                    out.setdefault(campaign_id, []).append(body)
                return out

            wait_for(lambda: set(notified()) == set(failing), "a notification per failed campaign")
            for campaign_id, bodies in notified().items():
                assert len(bodies) == 1, f"{campaign_id}: {len(bodies)} notifications"
                [alert] = bodies[0]["alerts"]
                assert alert["labels"]["alertname"] == failing[campaign_id][0]

            # The campaign boards show each campaign once: no series of theirs is a replica's.
            ga_failed = next(c for c, (name, _) in failing.items() if name.startswith("Green"))
            for title, expr in dashboard_queries({**BOARD_VALUES, "campaign": ga_failed}):
                if title.startswith("Campaigns / Exporter health") or "/ variable " in title:
                    continue
                for row in stack.query(expr):
                    assert "instance" not in row["metric"], f"{title}: {row['metric']}"


def post(url: str) -> None:
    request = urllib.request.Request(url, method="POST")  # noqa: S310 - loopback URL
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - loopback URL
        pass


def send_json(url: str, body: Any, method: str = "POST") -> None:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - loopback URL
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - loopback URL
        pass


def evaluated_after(prom_url: str, moment: float) -> None:
    """Wait until every rule group has been evaluated after ``moment`` (Unix time)."""

    def done() -> bool:
        groups = get_json(f"{prom_url}/api/v1/rules")["data"]["groups"]
        stamps = [g["lastEvaluation"][:26].rstrip("Z") for g in groups]
        return all(
            datetime.fromisoformat(s).replace(tzinfo=UTC).timestamp() > moment for s in stamps
        )

    wait_for(done, "a rule evaluation after the moment")


def on_documented_shape(sim_url: str, query: Any, hook: Webhook, prom_url: str) -> str:
    """What the vendors' documented answers alone must alert on: a GreenArrow campaign
    failing while watched pages; one bouncing hard is pending (its for: is 15 minutes); a
    direct-mail batch whose day has passed is pending overdue (its for: is a minute).
    Returns the failed GreenArrow campaign's id."""
    ga = get_json(f"{sim_url}/_sim/greenarrow/truth")["campaigns"]
    now = time.time()
    sending = [c for c in ga if c["state"] == "sending" and not c["paused"]]
    failing = sending[0]["campaign_id"]
    bouncy = next(
        c["campaign_id"]
        for c in ga
        if c["stats"]["sent"]["total"] >= 2000
        and c["started_at"] > now - 6 * 86400
        and c["campaign_id"] != failing
    )
    exp = get_json(f"{sim_url}/_sim/experiture/truth")["campaigns"]
    batch = next(
        c["campaign_id"]
        for c in exp
        if c["state"] == "completed"
        and c["campaign_type"] == "broadcast"
        and c["authoring_status"] == "published"
    )
    post(f"{sim_url}/_sim/greenarrow/campaigns/{failing}/fail")
    post(f"{sim_url}/_sim/greenarrow/campaigns/{bouncy}/bounce")
    post(f"{sim_url}/_sim/experiture/campaigns/{batch}/overdue-batch")

    def paged() -> bool:
        return any(
            a["labels"]["alertname"] == "GreenArrowCampaignFailed"
            and a["labels"]["campaign_id"] == failing
            for _, a in hook.alerts()
        )

    wait_for(paged, "GreenArrowCampaignFailed at the webhook")

    def pending(alertname: str, campaign_id: str) -> bool:
        active = get_json(f"{prom_url}/api/v1/alerts")["data"]["alerts"]
        return any(
            a["labels"]["alertname"] == alertname
            and a["labels"]["campaign_id"] == campaign_id
            and a["state"] in ("pending", "firing")
            for a in active
        )

    wait_for(lambda: pending("GreenArrowHighBounceRate", bouncy), "a bounce-rate alert")
    wait_for(lambda: pending("CampaignSendOverdue", batch), "an overdue direct-mail batch")
    [mode] = query(f'experiture_campaign_schedule_info{{campaign_id="{batch}"}}')
    assert mode["metric"]["mode"] == "batch_on_date"
    return str(failing)


def test_a_source_that_cannot_be_read_pages_as_down_and_stale(tmp_path: Path) -> None:
    """Health alerts on the new health semantics, through the real binaries: every read of
    Experiture answered 503 makes its walks fail; CampaignExporterSourceDown and
    CampaignExporterDataStale page for that source, not for GreenArrow. The rules are the
    mixin's with short waits (its own generator), so that the test takes seconds."""
    rules = mixin_rules(
        tmp_path,
        "source_down_for: 2s\ndata_stale_poll_intervals: 2\ndata_stale_min: 3s\n"
        "data_stale_for: 1s\n",
    )
    settings = SimulatorSettings(
        experiture_campaigns=20, greenarrow_campaigns=20, speed=1.0, healthy=True
    )
    with SimulatorThread(settings) as sim:
        port = free_port()
        config = exporter_config(tmp_path, sim.url)
        with alerting_stack(tmp_path, [port], rules) as stack:
            with run_exporter(config, port, tmp_path / "exporter.log"):
                wait_for(
                    lambda: stack.query('campaign_exporter_source_up{source="prod"} == 1'),
                    "Prometheus to see the source up",
                )
                assert not stack.hook.alerts(), "a healthy fleet raised an alert"
                fault = json.dumps({"kind": "http_5xx", "api": "experiture", "endpoint": "*"})
                request = urllib.request.Request(  # noqa: S310 - loopback URL
                    f"{sim.url}/_sim/faults", data=fault.encode(), method="POST"
                )
                with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - loopback URL
                    pass

                def paged() -> set[tuple[str, str]]:
                    return {
                        (a["labels"]["alertname"], a["labels"].get("source", ""))
                        for _, a in stack.hook.alerts()
                    }

                wanted = {
                    ("CampaignExporterSourceDown", "prod"),
                    ("CampaignExporterDataStale", "prod"),
                }
                wait_for(lambda: wanted <= paged(), "SourceDown and DataStale for prod")
                assert not {name for name, source in paged() if source == "ga"}


def test_killed_exporters_page_as_a_missing_shard_then_as_down(tmp_path: Path) -> None:
    """The alerts that read Prometheus' own series, through the real binaries: shards 0
    and 1 of 2, scraped as two targets of the job. Shard 1's process killed: its shard is
    missing (critical) and one target of the job is down (warning); shard 0's killed too:
    no target is up (critical), the page a dead exporter must still raise. The rules are
    the mixin's with a for: of 3 s."""
    rules = mixin_rules(tmp_path, "exporter_down_for: 3s\nshard_missing_for: 3s\n")
    settings = SimulatorSettings(
        experiture_campaigns=10, greenarrow_campaigns=10, speed=1.0, healthy=True
    )
    with SimulatorThread(settings) as sim:
        ports = [free_port(), free_port()]
        config = exporter_config(tmp_path, sim.url)
        # The exporters first: Prometheus never sees a target down before they listen.
        with (
            run_exporter(
                config, ports[0], tmp_path / "shard-0.log", "--shard=0", "--total-shards=2"
            ) as shard0,
            run_exporter(
                config, ports[1], tmp_path / "shard-1.log", "--shard=1", "--total-shards=2"
            ) as shard1,
            alerting_stack(tmp_path, ports, rules) as stack,
        ):
            both = (
                'count(campaign_exporter_shard_info{job="campaign-exporter"}) == 2'
                ' and min(up{job="campaign-exporter"}) == 1'
            )
            wait_for(lambda: stack.query(both), "Prometheus to scrape both shards")
            evaluated_after(stack.prom_url, time.time() + 4)  # past a for: of 3 s
            assert not stack.hook.alerts(), "two healthy shards raised an alert"

            def paged() -> dict[tuple[str, str], dict[str, Any]]:
                return {
                    (a["labels"]["alertname"], a["labels"]["severity"]): a
                    for _, a in stack.hook.alerts()
                }

            shard1.kill()
            shard1.wait()
            killed = time.monotonic()
            wanted = {
                ("CampaignExporterShardMissing", "critical"),
                ("CampaignExporterDown", "warning"),
            }
            wait_for(lambda: wanted <= set(paged()), "ShardMissing and Down (warning) pages")
            print(f"\nkill-to-page, one shard of two: {time.monotonic() - killed:.2f}s")
            missing = paged()["CampaignExporterShardMissing", "critical"]
            assert missing["labels"]["total_shards"] == "2"
            assert missing["annotations"]["description"].startswith("1 of the 2 shards of job ")
            assert paged()["CampaignExporterDown", "warning"]["annotations"][
                "description"
            ].startswith("1 target(s) of job campaign-exporter have been down")
            assert ("CampaignExporterDown", "critical") not in paged()

            shard0.kill()
            shard0.wait()
            killed = time.monotonic()
            wait_for(
                lambda: ("CampaignExporterDown", "critical") in paged(),
                "CampaignExporterDown (critical) at the webhook",
            )
            print(f"kill-to-page, the last shard: {time.monotonic() - killed:.2f}s")
            down = paged()["CampaignExporterDown", "critical"]
            assert down["labels"]["job"] == "campaign-exporter"
            assert "instance" not in down["labels"]
            assert down["annotations"]["runbook_url"].endswith("#campaignexporterdown")
            in_alertmanager = {
                (a["labels"]["alertname"], a["labels"]["severity"])
                for a in get_json(f"{stack.am_url}/api/v2/alerts")
            }
            assert ("CampaignExporterDown", "critical") in in_alertmanager


def test_a_restart_on_the_same_books_pages_once_per_failed_campaign(tmp_path: Path) -> None:
    """Two Experiture campaigns and a GreenArrow one fail and page; the exporter (keeping
    its books with --storage.path) stops, Prometheus misses scrapes of it, and it starts
    again on the same books. Each alert stays the one that fired (keep_firing_for holds it
    while nothing is scraped and while the restored values wait for their read), and the
    webhook has one notification per failed campaign. A GreenArrow campaign that started
    days ago and was already failed when first seen pages neither before nor after. The
    rules are the mixin's with keep_firing_for of 60 s (the test waits on no part of it)."""
    rules = mixin_rules(tmp_path, "campaign_keep_firing_for: 60s\n")
    settings = SimulatorSettings(
        experiture_campaigns=30, greenarrow_campaigns=30, speed=1.0, healthy=True
    )
    with SimulatorThread(settings) as sim:
        port = free_port()
        config = exporter_config(tmp_path, sim.url)
        books = f"--storage.path={tmp_path / 'books'}"
        ga = get_json(f"{sim.url}/_sim/greenarrow/truth")["campaigns"]
        now = time.time()
        old = next(
            c["campaign_id"]
            for c in ga
            if c["state"] == "finished" and now - 20 * 86400 < c["started_at"] < now - 2 * 86400
        )
        post(f"{sim.url}/_sim/greenarrow/campaigns/{old}/fail")  # before the exporter saw it
        exp = get_json(f"{sim.url}/_sim/experiture/truth")["campaigns"]
        failing = dict.fromkeys(running_broadcasts(exp)[:2], "CampaignExecutionFailed")
        sending = next(c for c in ga if c["state"] == "sending" and not c["paused"])
        failing[sending["campaign_id"]] = "GreenArrowCampaignFailed"
        assert len(failing) == 3
        with alerting_stack(tmp_path, [port], rules) as stack:

            def firing() -> dict[str, dict[str, Any]]:
                return {
                    a["labels"]["campaign_id"]: a
                    for a in stack.active()
                    if a["state"] == "firing" and "campaign_id" in a["labels"]
                }

            def notified() -> dict[str, list[str]]:
                out: dict[str, list[str]] = {}
                for _, alert in stack.hook.alerts():
                    labels = alert["labels"]
                    out.setdefault(labels.get("campaign_id", ""), []).append(labels["alertname"])
                return out

            with run_exporter(config, port, tmp_path / "exporter-1.log", books):
                seen_old = f'greenarrow_campaign_state{{campaign_id="{old}",state="failed"}} == 1'
                wait_for(
                    lambda: stack.query("count(experiture_campaign_info) > 0"),
                    "Prometheus to have the exporter's series",
                )
                wait_for(lambda: stack.query(seen_old), "Prometheus to see the old failure")
                assert not stack.hook.alerts(), "a healthy fleet raised an alert"
                for campaign_id, alertname in failing.items():
                    vendor = "experiture" if alertname.startswith("Campaign") else "greenarrow"
                    post(f"{sim.url}/_sim/{vendor}/campaigns/{campaign_id}/fail")
                wait_for(lambda: set(notified()) == set(failing), "a page per failed campaign")
                before = firing()
                assert set(before) == set(failing)
            wait_for(
                lambda: stack.query('up{job="campaign-exporter"} == 0'),
                "Prometheus to miss a scrape of the stopped exporter",
            )
            evaluated_after(stack.prom_url, time.time() + 1)
            assert set(firing()) == set(failing), "resolved while nothing was scraped"
            with run_exporter(config, port, tmp_path / "exporter-2.log", books):
                # each failed campaign (and the old one) read again by the new process: the
                # rules see the read, not only the restored value
                for campaign_id, alertname in {**failing, old: "GreenArrow"}.items():
                    vendor = "experiture" if alertname.startswith("Campaign") else "greenarrow"
                    reread = (
                        f'{vendor}_campaign_last_updated_timestamp_seconds{{campaign_id="'
                        f'{campaign_id}"}} >= on(job, instance) group_left() '
                        "campaign_exporter_start_timestamp_seconds"
                    )
                    wait_for(
                        lambda q=reread: stack.query(q), f"{campaign_id} read after the restart"
                    )
                evaluated_after(stack.prom_url, time.time() + 3)
                after = firing()
                assert set(after) == set(failing)
                for campaign_id, alert in after.items():
                    assert alert["activeAt"] == before[campaign_id]["activeAt"], campaign_id
                assert not stack.query(f'ALERTS{{campaign_id="{old}"}}')
                in_alertmanager = {
                    a["labels"].get("campaign_id"): a["startsAt"]
                    for a in get_json(f"{stack.am_url}/api/v2/alerts")
                    if a["status"]["state"] == "active"
                }
                assert set(in_alertmanager) == set(failing)
            assert notified() == {campaign_id: [name] for campaign_id, name in failing.items()}


def test_after_an_hour_down_no_alert_fires_on_a_restored_value(tmp_path: Path) -> None:
    """The last run ended an hour ago (its books aged by an hour, the simulator's clock set
    back an hour for it and moved on since); a campaign running then failed meanwhile. The
    exporter starts on those books while every /status read fails: Prometheus scrapes the
    restored values, each running campaign's progress an hour old, which CampaignStalled
    (for: 1 s here) would page on, were they believed; none fires, none is even pending.
    Once the reads come back, the failure pages, and it is the only notification."""
    rules = mixin_rules(tmp_path, "stalled_for: 1s\n")
    settings = SimulatorSettings(
        experiture_campaigns=30, greenarrow_campaigns=10, speed=1.0, healthy=True
    )
    with SimulatorThread(settings) as sim:
        send_json(f"{sim.url}/_sim/clock", {"advance": -3600})
        port = free_port()
        config = exporter_config(tmp_path, sim.url)
        books = tmp_path / "books"
        exp = get_json(f"{sim.url}/_sim/experiture/truth")["campaigns"]
        running = [
            c["campaign_id"]
            for c in exp
            if c["state"] == "running"
            and c["campaign_type"] == "broadcast"
            and c["authoring_status"] == "published"
        ]
        assert len(running) >= 2
        victim, ids = running[0], "|".join(running)
        updated = f'experiture_campaign_last_updated_timestamp_seconds{{campaign_id=~"{ids}"}}'
        start = "on(job, instance) group_left() campaign_exporter_start_timestamp_seconds"
        all_running = (
            f'count(experiture_campaign_execution_state{{campaign_id=~"{ids}",state="running"}}'
            f" == 1) == {len(running)}"
        )
        # shown from the books: read before this process started, and over an hour ago
        all_restored = f"count({updated} < {start} < time() - 3600) == {len(running)}"
        all_read = f"count({updated} >= {start}) == {len(running)}"
        failed = f'experiture_campaign_execution_state{{campaign_id="{victim}",state="failed"}}'

        def on_campaigns() -> list[dict[str, Any]]:
            """Per-campaign alerts, pending or firing (the exporter's own are not asked
            about: it is down, or was not yet scraped)."""
            return [a for a in stack.active() if "campaign_id" in a["labels"]]

        def paged() -> set[tuple[str, str]]:
            return {
                (a["labels"]["alertname"], a["labels"].get("campaign_id", ""))
                for _, a in stack.hook.alerts()
            }

        with alerting_stack(tmp_path, [port], rules) as stack:
            with run_exporter(config, port, tmp_path / "exporter-1.log", f"--storage.path={books}"):
                wait_for(lambda: stack.query(all_running), "every running campaign in Prometheus")
                assert not on_campaigns(), "a healthy fleet raised an alert"
            wait_for(
                lambda: stack.query('up{job="campaign-exporter"} == 0'),
                "Prometheus to miss a scrape of the stopped exporter",
            )
            age_books(books / "books.sqlite", 3600)
            send_json(f"{sim.url}/_sim/clock", {"advance": 3600})
            post(f"{sim.url}/_sim/experiture/campaigns/{victim}/fail?edit=0")
            fault = {"kind": "http_5xx", "api": "experiture", "endpoint": "status"}
            send_json(f"{sim.url}/_sim/faults", fault)
            with run_exporter(config, port, tmp_path / "exporter-2.log", f"--storage.path={books}"):
                wait_for(lambda: stack.query(all_restored), "the restored values in Prometheus")
                assert stack.query(all_running)
                evaluated_after(stack.prom_url, time.time() + 3)  # past a for: of 1 s
                assert stack.query(all_restored), "read while the reads fail"
                assert not on_campaigns(), "an alert on a restored value"

                send_json(f"{sim.url}/_sim/faults", None, method="DELETE")
                wait_for(lambda: stack.query(f"{failed} == 1"), "the failure read, in Prometheus")
                wait_for(paged, "the failure at the webhook")
                wait_for(lambda: stack.query(all_read), "every campaign read by the new process")
                evaluated_after(stack.prom_url, time.time() + 3)
                assert paged() == {("CampaignExecutionFailed", victim)}
                ever = stack.query(
                    'count_over_time(ALERTS{campaign_id!="", alertname!="CampaignExecutionFailed"}'
                    "[10m])"
                )
                assert ever == [], ever
