"""Freshness on a long-used fleet under the vendor's rate limit, against a baseline commit.

    .venv/bin/python bench/freshness.py --campaigns 2000 --rate 10 --baseline HEAD~1
    .venv/bin/python bench/freshness.py --campaigns 10000 --rate 20 --quota learned \\
        --baseline none --max-seconds 560
    .venv/bin/python bench/freshness.py --restart --campaigns 2000 --rate 10 \\
        --restart-after 150 --max-seconds 90

The simulator (preset ``long-used``, fixed seed, real-time clock) runs in this process and
limits each endpoint class to --rate requests/s; the exporter is a child process with the
default poll_interval and concurrency, its source's ``rate_limits`` set to the same rate
for each class (``--quota configured``; a baseline without ``rate_limits`` gets it as its
source-wide ``rate_limit``) or absent (``--quota learned``: it learns the pace from 429s).
Each tree (the baseline, checked out with ``git worktree add``, then this one) runs the
same way on a fresh simulator, its exporter on ``PYTHONPATH=<tree>``, for at most
--max-seconds; a figure not reached by then prints as "not within N s".

Figures: time to the first campaign on /metrics, until every campaign running at start
shows ``state="running"``, until every campaign the exporter should show (published,
broadcast, not finished longer ago than the default 7 d retention) has a state; --failures
executions failed at seeded times, each of a campaign every replica already shows running
(40% planned in the first 120 s, the rest once the picture is complete, or late in the run
if it never is; ``updatedAt`` left as it was): p50, p95 and max from injection to
``state="failed"`` on /metrics and, with --alerting, to the Alertmanager webhook through the
shipped rules; upstream requests per second by urgency
(``campaign_exporter_source_reads_total``, n/a where the tree has none) and by endpoint and
429s; exporter CPU per upstream request (from /proc, after it listens: this bench's own
scrapes included); RSS at the end. ``--ha``: two replicas on one token (the vendor's limit
is shared), figures per replica. Waiting scrapes ask only for
``experiture_campaign_execution_state`` (``name[]``), at most every 0.5 s.

``--restart``: the restart case, on one simulator. A first run with ``--storage.path``
until every campaign has a state (or --restart-after seconds), SIGTERM, and a second start
on the same file; figures: time to the first campaigns and until every campaign shown at
the stop is shown again with the state it had then, and for --failures campaigns shown
running at the stop and failed 30 s after the second start, p50, p95 and max to
``state="failed"``. Its baseline is the same tree restarted without ``--storage.path``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import math
import os
import random
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from _common import COMMAND, ROOT, checkout, cpu_seconds, free_port, git, peak_rss_mib, rss_mib

from exporter.simulator import SimulatorSettings, SimulatorThread
from tests.system.test_e2e_alerting import Webhook, get_json, post, process

STATE = "experiture_campaign_execution_state"
READS = "campaign_exporter_source_reads_total"
REQUESTS = "campaign_exporter_upstream_requests_total"
# What the shipped CampaignExecutionFailed reads (the last for its description): all that
# Prometheus scrapes here, so that its scrapes cost the exporter little.
ALERT_FAMILIES = (
    STATE,
    "experiture_campaign_last_execution_completed_timestamp_seconds",
    "experiture_campaign_info",
)
RETENTION = 7 * 86400.0  # the exporter's default: terminal campaigns finished before leave
TICK = 0.5  # the most often a waiting scrape is made
EARLY = 120.0  # failures planned in the first 120 s, the rest in steady state
STEADY_SPREAD = 45.0  # steady-state failures within this many seconds of its start
STEADY_LAST = 105.0  # ... which starts at the latest this long before the end of the run
SETUP_SECONDS = 30.0  # per run, beyond --max-seconds: simulator, Prometheus, teardown
INVOCATION_LIMIT = 590.0
VALUE_ONE = re.compile(rf"^{STATE}{{(.*)}} 1(?:\.0)?$", re.MULTILINE)
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


Figure = str | float | int | None  # a number, or why there is none (None: n/a)
Figures = dict[str, Figure]


@dataclass(frozen=True)
class Plan:
    campaigns: int
    rate: float
    burst: int
    quota: str
    replicas: int
    alerting: bool
    max_seconds: float
    seed: int
    failures: int
    scrape_interval: str
    restart_after: float | None = None  # with --restart: seconds of the first run at most


@dataclass(frozen=True)
class Fleet:
    """What the simulator says at the start of a run: the campaigns the exporter should
    show, and those of them running (each still running minutes later, in this preset)."""

    expected: frozenset[str]
    running: frozenset[str]


# -- reading the exporter ----------------------------------------------------------------


def get_text(url: str, timeout: float = 10) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback
            return str(resp.read().decode())
    except (OSError, http.client.HTTPException):
        return None


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    found = re.finditer(rf"^{name}{{(.*)}} (\S+)$", text, re.MULTILINE)
    return [(dict(LABEL.findall(m.group(1))), float(m.group(2))) for m in found]


@dataclass
class Replica:
    """One exporter process and what this bench has seen on its /metrics."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    started: float
    listening: tuple[float, float] | None = None  # CPU seconds, upstream requests then
    first: float | None = None
    all_running: float | None = None
    all_states: float | None = None
    shown: dict[str, str] = field(default_factory=dict)  # campaign -> state with value 1
    failed_seen: dict[str, float] = field(default_factory=dict)  # campaign -> seconds after
    scraped_bytes: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def counters(self) -> str | None:
        return get_text(f"{self.base}/metrics?name[]={READS}&name[]={REQUESTS}")

    def requests(self, text: str) -> float:
        return sum(value for _, value in samples(text, REQUESTS))

    def observe(self, fleet: Fleet, injected: dict[str, float]) -> None:
        """One cheap scrape: the state of every campaign, and the figures it reaches."""
        text = get_text(f"{self.base}/metrics?name[]={STATE}")
        now = time.monotonic()
        if text is None:
            if self.proc.poll() is not None:
                raise SystemExit(f"exporter {self.name} exited: {self.log.read_text()[-2000:]}")
            return
        if self.listening is None:
            counters = self.counters() or ""
            self.listening = (cpu_seconds(self.proc.pid), self.requests(counters))
        self.scraped_bytes += len(text)
        shown = {}
        for match in VALUE_ONE.finditer(text):
            labels = dict(LABEL.findall(match.group(1)))
            shown[labels.get("campaign_id", "")] = labels.get("state", "")
        self.shown, elapsed = shown, now - self.started
        if self.first is None and f"{STATE}{{" in text:
            self.first = elapsed
        running = fleet.running - set(injected)
        if self.all_running is None and all(shown.get(c) == "running" for c in running):
            self.all_running = elapsed
        if self.all_states is None and fleet.expected <= shown.keys():
            self.all_states = elapsed
        for cid, at in injected.items():
            if cid not in self.failed_seen and shown.get(cid) == "failed":
                self.failed_seen[cid] = now - at

    def complete(self) -> bool:
        return None not in (self.first, self.all_running, self.all_states)


# -- failures ----------------------------------------------------------------------------


@dataclass
class Failures:
    """Failures at seeded times, each of a campaign every replica shows running."""

    rng: random.Random
    early: list[float]  # seconds after start
    steady: list[float]  # seconds after steady state begins
    steady_from: float | None = None
    injected: dict[str, float] = field(default_factory=dict)  # campaign -> monotonic time
    at: dict[str, float] = field(default_factory=dict)  # campaign -> seconds after start

    @classmethod
    def planned(cls, count: int, seed: int) -> Failures:
        rng = random.Random(seed)
        early = round(count * 0.4)
        return cls(
            rng,
            sorted(rng.uniform(15, EARLY) for _ in range(early)),
            sorted(rng.uniform(0, STEADY_SPREAD) for _ in range(count - early)),
        )

    def due(self, elapsed: float) -> int:
        times = list(self.early)
        if self.steady_from is not None:
            times += [self.steady_from + t for t in self.steady]
        return sum(t <= elapsed for t in times) - len(self.injected)

    def step(
        self, elapsed: float, cap: float, replicas: list[Replica], fleet: Fleet, sim_url: str
    ) -> None:
        if self.steady_from is None and (
            all(r.all_states is not None for r in replicas) or elapsed >= cap - STEADY_LAST
        ):
            self.steady_from = max(elapsed, EARLY)
        for _ in range(self.due(elapsed)):
            shown = set.intersection(
                *({c for c, s in r.shown.items() if s == "running"} for r in replicas)
            )
            candidates = sorted((shown & fleet.running) - set(self.injected))
            if not candidates:
                return
            cid = self.rng.choice(candidates)
            self.injected[cid] = time.monotonic()
            self.at[cid] = elapsed
            post(f"{sim_url}/_sim/experiture/campaigns/{cid}/fail?edit=0")


def paged(hook: Webhook, failures: Failures) -> dict[str, float]:
    """Seconds from each injection to the first notification naming its campaign."""
    out: dict[str, float] = {}
    for arrived, alert in hook.alerts():
        labels = alert["labels"]
        cid = labels.get("campaign_id", "")
        if labels.get("alertname") == "CampaignExecutionFailed" and cid in failures.injected:
            out.setdefault(cid, arrived - failures.injected[cid])
    return out


# -- one run -----------------------------------------------------------------------------


CLASSES = ("campaigns", "analytics")  # Experiture's endpoint classes, each limited alone


def per_class(tree: Path) -> bool:
    """Whether the tree's config takes a limit per endpoint class (``rate_limits``): its
    config schema, at its place before the layout by stage (9573d56) or after."""
    schemas = [tree / "exporter" / "config" / "schema.py", tree / "exporter" / "schema.py"]
    return any(p.is_file() and "rate_limits" in p.read_text() for p in schemas)


def source(sim_url: str, plan: Plan, tree: Path) -> dict[str, Any]:
    """An Experiture source with the default poll_interval and concurrency; the vendor's
    quota configured as each class's limit where the tree can say so, else as the
    source-wide ``rate_limit`` (a tree from before per-class limits)."""
    config: dict[str, Any] = {
        "name": "exp",
        "type": "experiture",
        "base_url": f"{sim_url}/public/v1",
        "authorization": {"credentials": "demo-token"},
    }
    if plan.quota == "configured":
        limit = {"requests_per_second": plan.rate, "burst": plan.burst}
        if per_class(tree):
            config["rate_limits"] = dict.fromkeys(CLASSES, limit)
        else:
            config["rate_limit"] = limit
    return config


def fleet_of(sim_url: str, margin: float) -> Fleet:
    body = get_json(f"{sim_url}/_sim/experiture/truth")
    cutoff = body["now"] - RETENTION + margin
    shown = [
        c
        for c in body["campaigns"]
        if c["authoring_status"] == "published" and c["campaign_type"] == "broadcast"
    ]
    expected = {
        c["campaign_id"]
        for c in shown
        if c["state"] not in ("completed", "failed") or (c["completed_at"] or 0) >= cutoff
    }
    running = {c["campaign_id"] for c in shown if c["state"] == "running"}
    return Fleet(frozenset(expected), frozenset(running))


@contextlib.contextmanager
def alerting(tree: Path, tmp: Path, ports: list[int], plan: Plan) -> Iterator[Webhook]:
    """The real Prometheus (with the tree's shipped rules) and Alertmanager, notifying a
    webhook."""
    hook = Webhook()
    prom_port, am_port = free_port(), free_port()
    am = tmp / "alertmanager.yml"
    route = {
        "receiver": "bench",
        "group_by": ["alertname", "source", "campaign_id"],
        "group_wait": "1s",
        "group_interval": "1s",
        "repeat_interval": "1h",
    }
    receiver = {"name": "bench", "webhook_configs": [{"url": hook.url, "send_resolved": False}]}
    am.write_text(yaml.safe_dump({"route": route, "receivers": [receiver]}))
    prom = tmp / "prometheus.yml"
    job = {
        "job_name": "campaign-exporter",
        "params": {"name[]": list(ALERT_FAMILIES)},
        "static_configs": [{"targets": [f"127.0.0.1:{port}" for port in ports]}],
    }
    interval = plan.scrape_interval
    prom.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": interval, "evaluation_interval": interval},
                "rule_files": [str(tree / "prometheus" / "alerts.yml")],
                "alerting": {
                    "alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]
                },
                "scrape_configs": [job],
            }
        )
    )
    alertmanager = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    prometheus = shutil.which("prometheus")
    if alertmanager is None or prometheus is None:
        raise SystemExit("--alerting needs the prometheus and prometheus-alertmanager binaries")
    with (
        process(
            [
                alertmanager,
                f"--config.file={am}",
                f"--storage.path={tmp / 'am'}",
                f"--web.listen-address=127.0.0.1:{am_port}",
                "--cluster.listen-address=",
            ],
            tmp / "alertmanager.log",
            f"http://127.0.0.1:{am_port}/-/ready",
        ),
        process(
            [
                prometheus,
                f"--config.file={prom}",
                f"--storage.tsdb.path={tmp / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            tmp / "prometheus.log",
            f"http://127.0.0.1:{prom_port}/-/ready",
        ),
    ):
        try:
            yield hook
        finally:
            hook.server.shutdown()


@contextlib.contextmanager
def replicas(
    tree: Path, sim_url: str, plan: Plan, tmp: Path, ports: list[int], *extra: str
) -> Iterator[list[Replica]]:
    config = tmp / "exporter.yml"
    config.write_text(yaml.safe_dump({"sources": [source(sim_url, plan, tree)]}))
    env = {**os.environ, "PYTHONPATH": str(tree)}
    started: list[Replica] = []
    try:
        for name, port in zip("ab", ports, strict=False):
            log = tmp / f"exporter-{name}.log"
            with log.open("wb") as out:
                proc = subprocess.Popen(
                    [
                        COMMAND,
                        f"--config.file={config}",
                        f"--web.listen-address=127.0.0.1:{port}",
                        "--log.level=warn",
                        *extra,
                    ],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=env,
                )
            started.append(Replica(name, proc, port, log, time.monotonic()))
        yield started
    finally:
        for replica in started:
            replica.proc.terminate()
        for replica in started:
            try:
                replica.proc.wait(10)
            except subprocess.TimeoutExpired:
                replica.proc.kill()
                replica.proc.wait()


def settings_of(plan: Plan) -> SimulatorSettings:
    return SimulatorSettings(
        experiture_campaigns=plan.campaigns,
        greenarrow_campaigns=0,
        seed=plan.seed,
        preset="long-used",
        rate_limit=plan.rate,
        rate_burst=plan.burst,
    )


def run(tree: Path, plan: Plan) -> Figures:
    """One tree: its exporter(s) on a fresh simulator, watched until every figure is in or
    --max-seconds have passed; the figures by name."""
    with (
        tempfile.TemporaryDirectory(prefix="freshness-") as tmpdir,
        SimulatorThread(settings_of(plan)) as sim,
        contextlib.ExitStack() as stack,
    ):
        tmp = Path(tmpdir)
        fleet = fleet_of(sim.url, plan.max_seconds + 60)
        ports = [free_port() for _ in range(plan.replicas)]
        hook = stack.enter_context(alerting(tree, tmp, ports, plan)) if plan.alerting else None
        failures = Failures.planned(plan.failures, plan.seed)
        procs = stack.enter_context(replicas(tree, sim.url, plan, tmp, ports))
        start = procs[0].started
        while True:
            tick = time.monotonic()
            for replica in procs:
                replica.observe(fleet, failures.injected)
            failures.step(tick - start, plan.max_seconds, procs, fleet, sim.url)
            pages = paged(hook, failures) if hook is not None else {}
            done = all(r.complete() and len(r.failed_seen) == plan.failures for r in procs) and (
                hook is None or len(pages) == plan.failures
            )
            if done or tick - start >= plan.max_seconds:
                break
            time.sleep(max(0.0, tick + TICK - time.monotonic()))
        return figures(procs, fleet, failures, pages if hook is not None else None, plan)


# -- the restart case --------------------------------------------------------------------

FAIL_AFTER_RESTART = 30.0  # seconds after the second start that known-running ones fail


def restart_run(tree: Path, plan: Plan, storage: bool) -> Figures:
    """A cold start watched until every campaign has a state (or --restart-after), a
    SIGTERM, and a second start on the same simulator (with ``storage``, on the same
    --storage.path): how soon every campaign shown at the stop is shown again with the
    state it had, and how soon --failures campaigns shown running at the stop, failed 30 s
    after the second start, show failed."""
    assert plan.restart_after is not None
    with (
        tempfile.TemporaryDirectory(prefix="freshness-restart-") as tmpdir,
        SimulatorThread(settings_of(plan)) as sim,
    ):
        tmp = Path(tmpdir)
        fleet = fleet_of(sim.url, 2 * plan.max_seconds + 60)
        extra = [f"--storage.path={tmp / 'books'}"] if storage else []
        port = free_port()
        with replicas(tree, sim.url, plan, tmp, [port], *extra) as (first,):
            while not first.complete() and time.monotonic() - first.started < plan.restart_after:
                tick = time.monotonic()
                first.observe(fleet, {})
                time.sleep(max(0.0, tick + TICK - time.monotonic()))
            first.observe(fleet, {})
            before = dict(first.shown)
            warm = time.monotonic() - first.started
        rng = random.Random(plan.seed)
        injected: dict[str, float] = {}
        back: float | None = None
        with replicas(tree, sim.url, plan, tmp, [port], *extra) as (second,):
            while True:
                tick = time.monotonic()
                second.observe(fleet, injected)
                elapsed = time.monotonic() - second.started  # as observe counts its figures
                if back is None and all(
                    second.shown.get(c) == state for c, state in before.items() if c not in injected
                ):
                    back = elapsed
                if not injected and elapsed >= FAIL_AFTER_RESTART:
                    truth = get_json(f"{sim.url}/_sim/experiture/truth")["campaigns"]
                    now_running = {c["campaign_id"] for c in truth if c["state"] == "running"}
                    known = sorted(c for c, s in before.items() if s == "running")
                    chosen = rng.sample(
                        [c for c in known if c in now_running], min(plan.failures, len(known))
                    )
                    for cid in chosen:
                        injected[cid] = time.monotonic()
                        post(f"{sim.url}/_sim/experiture/campaigns/{cid}/fail?edit=0")
                seen_all = injected and len(second.failed_seen) == len(injected)
                if (back is not None and seen_all) or elapsed >= plan.max_seconds:
                    break
                time.sleep(max(0.0, tick + TICK - time.monotonic()))
            end = time.monotonic()
            out: Figures = {
                "first run before the stop (s)": warm,
                "campaigns on /metrics at the stop": len(before),
                "of them running": sum(s == "running" for s in before.values()),
                "failures injected 30 s after the restart": len(injected),
                "after the restart: first campaigns on /metrics (s)": reached(
                    second.first, f"not within {plan.max_seconds:g} s"
                ),
                "after the restart: every campaign back as it was (s)": reached(
                    back, f"not within {plan.max_seconds:g} s"
                ),
            }
            fake = Failures(rng, [], [], injected=injected)
            out.update(
                latency("failure to /metrics after the restart (s)", second.failed_seen, fake, end)
            )
            out.update(costs(second, end - second.started, ""))
            return out


# -- figures -----------------------------------------------------------------------------


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def latency(prefix: str, seen: dict[str, float], failures: Failures, end: float) -> Figures:
    """p50, p95 and max of injection-to-seen; an unseen failure counts as infinitely late."""
    if not failures.injected:
        return {f"{prefix} {q}": "none injected" for q in ("p50", "p95", "max")}
    values = [seen.get(cid, math.inf) for cid in failures.injected]
    unseen = [end - t for cid, t in failures.injected.items() if cid not in seen]
    out: Figures = {}
    for name, q in (("p50", 0.5), ("p95", 0.95), ("max", 1.0)):
        value = nearest_rank(values, q)
        out[f"{prefix} {name}"] = value if value != math.inf else f"not within {min(unseen):.0f} s"
    return out


def figures(
    procs: list[Replica],
    fleet: Fleet,
    failures: Failures,
    pages: dict[str, float] | None,
    plan: Plan,
) -> Figures:
    end = time.monotonic()
    cap = f"not within {plan.max_seconds:g} s"
    out: Figures = {}
    early = sum(t < EARLY for t in failures.at.values())
    out["campaigns the exporter should show"] = len(fleet.expected)
    out["of them running at start"] = len(fleet.running)
    out["failures injected in the first 120 s"] = early
    out["failures injected after"] = len(failures.at) - early
    for r in procs:
        tag = f" [{r.name}]" if len(procs) > 1 else ""
        seconds = end - r.started
        out[f"first campaigns on /metrics (s){tag}"] = reached(r.first, cap)
        out[f"every running campaign shown running (s){tag}"] = reached(r.all_running, cap)
        out[f"every campaign's state on /metrics (s){tag}"] = reached(r.all_states, cap)
        out.update(latency(f"failure to /metrics (s){tag}", r.failed_seen, failures, end))
        out.update(costs(r, seconds, tag))
        out[f"waiting scrapes (MB/s){tag}"] = r.scraped_bytes / 1e6 / seconds
    if pages is not None:
        out.update(latency("failure to the webhook (s)", pages, failures, end))
    return out


def reached(value: float | None, cap: str) -> str | float:
    return cap if value is None else value


def costs(r: Replica, seconds: float, tag: str) -> Figures:
    """Requests per second by urgency and endpoint, CPU per request and RSS, read before the
    process stops."""
    text = r.counters() or ""
    out: Figures = {}
    reads = samples(text, READS)
    if not reads:
        out[f"req/s by urgency{tag}"] = "n/a"
    for urgency in sorted({labels.get("urgency", "") for labels, _ in reads}):
        total = sum(v for labels, v in reads if labels.get("urgency") == urgency)
        out[f"req/s urgency={urgency}{tag}"] = total / seconds
    requests = samples(text, REQUESTS)
    for endpoint in sorted({labels.get("endpoint", "") for labels, _ in requests}):
        total = sum(v for labels, v in requests if labels.get("endpoint") == endpoint)
        out[f"req/s endpoint={endpoint}{tag}"] = total / seconds
    throttled = sum(v for labels, v in requests if labels.get("code") == "429")
    out[f"req/s answered 429{tag}"] = throttled / seconds
    cpu0, requests0 = r.listening or (0.0, 0.0)
    made = r.requests(text) - requests0
    spent = cpu_seconds(r.proc.pid) - cpu0
    out[f"CPU per upstream request (ms){tag}"] = 1e3 * spent / made if made else "n/a"
    out[f"RSS at the end (MiB){tag}"] = rss_mib(r.proc.pid)
    out[f"peak RSS (MiB){tag}"] = peak_rss_mib(r.proc.pid)
    return out


def cell(value: Figure) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, str | int):
        return str(value)
    size = abs(value)
    if size >= 100:
        return f"{value:.0f}"
    return f"{value:.1f}" if size >= 10 else f"{value:.2f}" if size >= 0.1 else f"{value:.2g}"


def table(baseline: Figures | None, tree: Figures) -> None:
    names = list(baseline or {}) + [n for n in tree if n not in (baseline or {})]
    rows = [("figure", "baseline", "this tree", "ratio")]
    for name in names:
        old, new = (baseline or {}).get(name), tree.get(name)
        ratio = "-"
        if isinstance(old, float) and isinstance(new, float) and old:
            ratio = f"{new / old:.2f}"
        rows.append((name, cell(old) if baseline is not None else "-", cell(new), ratio))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))


# -- the baseline ------------------------------------------------------------------------


def describe(plan: Plan, asked: str, baseline: str | None) -> None:
    """What this invocation runs with."""
    head = git("rev-parse", "--short", "HEAD")
    dirty = git("status", "--porcelain", "--untracked-files=no")
    quota = (
        f"rate_limits {plan.rate:g}/s and burst {plan.burst} per class (a tree without "
        "rate_limits: rate_limit, for the whole source)"
        if plan.quota == "configured"
        else "no rate_limit: learned from 429s"
    )
    lines = [
        f"tree under test: {ROOT} at {head}{' (uncommitted changes)' if dirty else ''}; "
        f"baseline: {baseline[:10] if baseline else 'none'} ({asked})",
        f"simulator: preset long-used, seed {plan.seed}, {plan.campaigns} Experiture "
        f"campaigns, {plan.rate:g} req/s per endpoint class, burst {plan.burst}",
        f"exporter: default poll_interval and concurrency, quota {plan.quota} ({quota}), "
        f"{plan.replicas} replica(s) on one token",
        f"{plan.failures} failures (fail?edit=0), each run capped at {plan.max_seconds:g} s",
    ]
    if plan.alerting:
        lines.append(
            f"alerting: Prometheus scrape and evaluation every {plan.scrape_interval} "
            f"(families {', '.join(ALERT_FAMILIES)}), Alertmanager group_wait 1s"
        )
    print("\n".join(lines), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--campaigns", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=10.0, help="vendor limit, req/s per class")
    parser.add_argument("--burst", type=int, default=10, help="vendor burst (and the config's)")
    parser.add_argument("--quota", choices=("configured", "learned"), default="configured")
    parser.add_argument("--ha", action="store_true", help="two replicas sharing one token")
    parser.add_argument("--alerting", action="store_true", help="to a webhook, shipped rules")
    parser.add_argument("--scrape-interval", default="5s", help="Prometheus', with --alerting")
    parser.add_argument("--failures", type=int, default=20)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--max-seconds", type=float, default=240.0, help="cap of each run")
    parser.add_argument("--baseline", default="HEAD~1", help='a git rev, or "none"')
    parser.add_argument(
        "--restart",
        action="store_true",
        help="the restart case: its baseline is this tree without --storage.path "
        "(--baseline none: with storage only)",
    )
    parser.add_argument(
        "--restart-after",
        type=float,
        default=None,
        help="with --restart, stop the first run after this many seconds at most "
        "(default: once every campaign has a state, or --max-seconds)",
    )
    args = parser.parse_args()
    plan = Plan(
        args.campaigns,
        args.rate,
        args.burst,
        args.quota,
        2 if args.ha else 1,
        args.alerting,
        args.max_seconds,
        args.seed,
        args.failures,
        args.scrape_interval,
        args.restart_after if args.restart_after is not None else args.max_seconds,
    )
    if args.restart:
        restart(plan, args.baseline != "none")
        return
    baseline = (
        None
        if args.baseline == "none"
        else git("rev-parse", "--verify", f"{args.baseline}^{{commit}}")
    )
    runs = 2 if baseline else 1
    if runs * (plan.max_seconds + SETUP_SECONDS) > INVOCATION_LIMIT:
        raise SystemExit(
            f"{runs} runs of --max-seconds {plan.max_seconds:g} would pass 10 minutes: "
            "lower it, or --baseline none"
        )
    describe(plan, args.baseline, baseline)
    old = None
    if baseline:
        with checkout(baseline) as path:
            old = run(path, plan)
    new = run(ROOT, plan)
    table(old, new)


def restart(plan: Plan, compare: bool) -> None:
    assert plan.restart_after is not None
    each = plan.restart_after + plan.max_seconds + 2 * SETUP_SECONDS
    if (2 if compare else 1) * each > INVOCATION_LIMIT:
        raise SystemExit(
            "the runs would pass 10 minutes: lower --restart-after or --max-seconds, "
            "or --baseline none"
        )
    head = git("rev-parse", "--short", "HEAD")
    print(
        f"restart case at {head}: preset long-used, seed {plan.seed}, {plan.campaigns} "
        f"campaigns, {plan.rate:g} req/s per class, quota {plan.quota}; first run at most "
        f"{plan.restart_after:g} s, then SIGTERM and a second start; {plan.failures} "
        f"campaigns shown running at the stop fail {FAIL_AFTER_RESTART:g} s after it; "
        f"baseline: {'the same without --storage.path' if compare else 'none'}",
        flush=True,
    )
    old = restart_run(ROOT, plan, storage=False) if compare else None
    new = restart_run(ROOT, plan, storage=True)
    table(old, new)


if __name__ == "__main__":
    main()
