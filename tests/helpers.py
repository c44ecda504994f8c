"""Helpers that read like the domain, for the tests and the benchmarks alike: run the
exporter (in this event loop, or as a real process, or its CLI once), wait on a condition
with a deadline, scrape it, read samples back, read a process's memory.

Benchmarks import this module too (``bench/_common.py``): one place for waiting, running
the CLI and starting the exporter."""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import json
import os
import re
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import anyio
import pytest
import yaml
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from exporter.clock import SteppedClock
from exporter.config.loader import Config, parse_config
from exporter.config.types import parse_duration
from exporter.run.app import RunOptions, run
from exporter.run.readqueue import next_delay
from exporter.simulator import Simulator, SimulatorSettings
from exporter.telemetry import Telemetry

DEADLINE = 30.0


class Samples:
    """An exposition read back by prometheus_client's parser, indexed by sample name."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.by_name: dict[str, list[tuple[dict[str, str], float]]] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                self.by_name.setdefault(sample.name, []).append((sample.labels, sample.value))

    def values(self, name: str, **labels: str) -> list[tuple[dict[str, str], float]]:
        """Every sample named ``name`` whose labels include ``labels``."""
        return [
            (have, value)
            for have, value in self.by_name.get(name, [])
            if all(have.get(k) == v for k, v in labels.items())
        ]

    def value(self, name: str, **labels: str) -> float | None:
        """The one sample matching, or None when there is none."""
        found = self.values(name, **labels)
        if not found:
            return None
        assert len(found) == 1, f"{name}{labels} matches {len(found)} samples"
        return found[0][1]

    def number(self, name: str, **labels: str) -> float:
        """The one sample matching; a test failure when there is none."""
        value = self.value(name, **labels)
        assert value is not None, f"no sample {name}{labels}"
        return value

    def by_campaign(self, name: str, **labels: str) -> dict[str, float]:
        return {have["campaign_id"]: value for have, value in self.values(name, **labels)}


FIRST_POLL = 0.05  # a wait checks again after 50 ms, then less and less often ...
POLL_GROWTH = 1.5
LAST_POLL = 0.25  # ... up to four times a second


TEST_PUBLISH_EVERY = 0.05  # seconds between publications in an in-process exporter


def poll_delays() -> Iterator[float]:
    """How long a wait sleeps between checks: 50 ms, then growing, so that waiting costs
    little next to what it waits for."""
    delay = FIRST_POLL
    while True:
        yield delay
        delay = min(delay * POLL_GROWTH, LAST_POLL)


def wait_for_sync(
    check: Callable[[], Any],
    what: str,
    deadline: float = DEADLINE,
    ignore: tuple[type[Exception], ...] = (),
) -> Any:
    """Call ``check`` until it returns something truthy; fail after ``deadline`` seconds.
    Errors of the ``ignore`` types count as "not yet" (a server still starting)."""
    end = time.monotonic() + deadline
    for delay in poll_delays():
        result = None
        with contextlib.suppress(*ignore):
            result = check()
        if result:
            return result
        if time.monotonic() > end:
            pytest.fail(f"timed out after {deadline:g}s waiting for {what}")
        time.sleep(delay)
    raise AssertionError("unreachable")


def names_query(names: Sequence[str] | None) -> list[tuple[str, str]]:
    """The ``name[]`` parameters of a scrape of only these families (None: all)."""
    return [("name[]", name) for name in names or ()]


@dataclass
class RunningExporter:
    """The exporter running in this event loop: its URL, its telemetry (to wait on what
    it publishes without scraping) and its clock (to step to the next poll)."""

    url: str
    http: aiohttp.ClientSession
    telemetry: Telemetry
    clock: SteppedClock

    async def scrape(
        self, headers: Mapping[str, str] | None = None, names: Sequence[str] | None = None
    ) -> Samples:
        """/metrics read back; only the families ``names`` when given."""
        async with self.http.get(
            f"{self.url}/metrics", headers=headers, params=names_query(names)
        ) as resp:
            assert resp.status == 200
            return Samples(await resp.text())

    async def get(self, path: str, **kwargs: Any) -> tuple[int, str]:
        async with self.http.get(f"{self.url}{path}", **kwargs) as resp:
            return resp.status, await resp.text()

    def refreshes(self, source: str) -> int:
        """Refreshes of ``source`` published so far, whatever their result."""
        status = self.telemetry.sources.get(source)
        return sum(status.refreshes.values()) if status else 0

    async def published_when(
        self, check: Callable[[], bool | Awaitable[bool]], what: str, deadline: float = DEADLINE
    ) -> None:
        """Until ``check`` holds, asked again after each publication: no scrape meanwhile."""
        with anyio.move_on_after(deadline):
            while True:
                seen = self.telemetry.publications
                held = check()
                if await held if inspect.isawaitable(held) else held:
                    return
                await self.telemetry.published(seen)
        pytest.fail(f"timed out after {deadline:g}s waiting for {what}")

    async def wait_ready(self) -> None:
        """Until ``/-/ready`` answers 200 and every source has ended its first round (its
        first walk and the reads due then), asked again after each publication."""

        async def ready() -> bool:
            rounds = [self.refreshes(name) for name in self.telemetry.sources]
            return (await self.get("/-/ready"))[0] == 200 and all(rounds)

        await self.published_when(ready, "/-/ready and every source's first round")

    async def wait_ready_only(self) -> None:
        """Until ``/-/ready`` answers 200, asked again after each publication."""

        async def ready() -> bool:
            return (await self.get("/-/ready"))[0] == 200

        await self.published_when(ready, "/-/ready")

    async def wait_published(self, source: str, count: float) -> None:
        """Until ``source`` has published ``count`` refreshes."""
        await self.published_when(
            lambda: self.refreshes(source) >= count, f"{count:g} refreshes of {source}"
        )

    async def wait_refreshes(
        self, source: str, count: float, names: Sequence[str] | None = None
    ) -> Samples:
        """``wait_published``, then one scrape (of ``names`` only, when given)."""
        await self.wait_published(source, count)
        return await self.scrape(names=names)

    async def next_refreshes(self, source: str, times: int = 1) -> None:
        """Step the clock to ``source``'s next poll and wait until a refresh begun after
        the step is published, ``times`` times: what changed upstream before this call is
        on /metrics after it, however long the poll interval."""
        # the first refresh runs at start, unasked: its loop sleeps on the clock after it
        await self.published_when(lambda: self.refreshes(source) >= 1, f"{source} to start")
        status = self.telemetry.sources[source]
        for _ in range(times):
            self.clock.advance(next_delay(status.poll_interval, status.consecutive_failures))
            mark = self.clock.time()

            def begun_after(mark: float = mark) -> bool:
                return (status.last_attempt or 0.0) >= mark

            await self.published_when(begun_after, f"a refresh of {source} after a clock step")

    async def poll(
        self, source: str, times: int = 1, names: Sequence[str] | None = None
    ) -> Samples:
        """``next_refreshes``, then one scrape (of ``names`` only, when given)."""
        await self.next_refreshes(source, times)
        return await self.scrape(names=names)

    async def wait_until(
        self, check: Callable[[Samples], bool], what: str, *, names: Sequence[str] | None
    ) -> Samples:
        """Scrape (only ``names``, unless None: all) until ``check`` holds; return that
        scrape. Between scrapes it waits for the next publication or for a growing delay,
        whichever comes first (counters of upstream errors move between publications)."""
        end = time.monotonic() + DEADLINE
        for delay in poll_delays():
            seen = self.telemetry.publications
            samples = await self.scrape(names=names)
            if check(samples):
                return samples
            if time.monotonic() > end:
                pytest.fail(f"timed out after {DEADLINE:g}s waiting for {what}")
            with anyio.move_on_after(delay):
                await self.telemetry.published(seen)
        raise AssertionError("unreachable")


@contextlib.asynccontextmanager
async def running_exporter(
    config: Config, *, clock: SteppedClock | None = None, **options: Any
) -> AsyncIterator[RunningExporter]:
    """The exporter in this event loop on a free loopback port, until the block ends; on
    real time, which the test may step forward (``RunningExporter.poll``). Publications
    come at most every 50 ms, not every second: a test steps through many of them (the
    production coalescing has a test of its own)."""
    options.setdefault("publish_every", TEST_PUBLISH_EVERY)
    addresses: list[str] = []
    listening = anyio.Event()
    started: list[Telemetry] = []
    clock = clock or SteppedClock()

    def on_listening(addrs: list[str]) -> None:
        addresses.extend(addrs)
        listening.set()

    opts = RunOptions(
        ("127.0.0.1:0",),
        on_listening=on_listening,
        handle_signals=False,
        clock=clock,
        on_started=started.append,
        **options,
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(run, config, opts)
        with anyio.fail_after(10):
            await listening.wait()
        async with aiohttp.ClientSession() as http:
            yield RunningExporter(f"http://{addresses[0]}", http, started[0], clock)
        tg.cancel_scope.cancel()


@contextlib.asynccontextmanager
async def running_simulator(**settings: Any) -> AsyncIterator[tuple[Simulator, str]]:
    """The simulator on a free loopback port; its clock frozen unless ``speed`` is given."""
    settings.setdefault("speed", 0.0)
    sim = Simulator(SimulatorSettings(**settings))
    runner, url = await sim.start()
    try:
        yield sim, url
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def serving_vendor(
    answer: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> AsyncIterator[str]:
    """A test-only vendor's ``GET /campaigns`` answered by ``answer`` on 127.0.0.1, on a
    free port, until the block ends; yields its base URL (``http://127.0.0.1:<port>``)."""
    app = web.Application()
    app.router.add_get("/campaigns", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


async def live_scrape() -> Samples:
    """Both source kinds, each after its first refresh."""
    async with running_simulator(experiture_campaigns=150, greenarrow_campaigns=150) as (_s, url):
        async with running_exporter(config_of(experiture_source(url), ga_source(url))) as exp:
            await exp.wait_refreshes("ga", 1)
            return await exp.wait_refreshes("prod", 1)


def exported(truth: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The simulator's Experiture campaigns discovery finds (published) and the API
    exposes (broadcast)."""
    return [
        c
        for c in truth
        if c["authoring_status"] == "published" and c["campaign_type"] == "broadcast"
    ]


def experiture_source(sim_url: str, **overrides: Any) -> dict[str, Any]:
    source: dict[str, Any] = {
        "name": "prod",
        "type": "experiture",
        "base_url": f"{sim_url}/public/v1",
        "authorization": {"credentials": "demo-token"},
        "poll_interval": "1h",
        "timeout": "5s",
    }
    source.update(overrides)
    return with_timeout_within_interval(source, overrides)


def ga_source(sim_url: str, **overrides: Any) -> dict[str, Any]:
    source: dict[str, Any] = {
        "name": "ga",
        "type": "greenarrow",
        "base_url": sim_url,
        "basic_auth": {"username": "1", "password": "demo-ga-key"},
        "lookback": "90d",
        "retention": "365d",  # compare against every campaign in the window
        "per_page": 100,
        "poll_interval": "1h",
    }
    source.update(overrides)
    return with_timeout_within_interval(
        {k: v for k, v in source.items() if v is not None}, overrides
    )


def with_timeout_within_interval(
    source: dict[str, Any], overrides: dict[str, Any]
) -> dict[str, Any]:
    """A test that polls fast and says nothing of the timeout gets the poll interval as its
    timeout: a timeout longer than the interval is a config error."""
    interval = overrides.get("poll_interval")
    shorter = interval is not None and parse_duration(interval) < parse_duration(
        source.get("timeout", "10s")
    )
    if shorter and "timeout" not in overrides:
        source["timeout"] = interval
    return source


def config_of(*sources: dict[str, Any]) -> Config:
    return parse_config({"sources": list(sources)})


def write_config(directory: Path, data: Any) -> Path:
    path = directory / "config.yml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def require_binary(name: str) -> str:
    """A real Prometheus tool: in CI its absence fails the test; elsewhere it skips."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (scripts/test installs the Debian packages)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


COMMAND = str(Path(sys.executable).parent / "campaign-exporter")


def manifest_generator() -> ModuleType:
    """deploy/kubernetes/generate.py as a module: what it makes, to compare with the files."""
    path = Path(__file__).parent.parent / "deploy" / "kubernetes" / "generate.py"
    spec = importlib.util.spec_from_file_location("k8s_generate", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mixin_generator() -> ModuleType:
    """prometheus/mixin.py as a module: its defaults, and the files it makes."""
    path = Path(__file__).parent.parent / "prometheus" / "mixin.py"
    spec = importlib.util.spec_from_file_location("mixin", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["mixin"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def kustomize(overlay: str) -> list[dict[str, Any]]:
    """deploy/kubernetes/<overlay> as ``kubectl kustomize`` builds it (the venv's kubectl)."""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "kubectl"), "kustomize", f"deploy/kubernetes/{overlay}"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parent.parent,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``campaign-exporter`` once (``--config.check``, ``--version``...), its output kept."""
    return subprocess.run(
        [COMMAND, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _status_kib(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return float(line.split()[1])
    return float("nan")


def rss_mib(pid: int) -> float:
    """A process's resident memory now (VmRSS), in MiB."""
    return _status_kib(pid, "VmRSS") / 1024


def peak_rss_mib(pid: int) -> float:
    """A process's peak resident memory so far (VmHWM), in MiB."""
    return _status_kib(pid, "VmHWM") / 1024


@contextlib.contextmanager
def exporter_process(
    sources: list[dict[str, Any]],
    log_level: str = "warn",
    env: Mapping[str, str] | None = None,
    args: Sequence[str] = (),
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """The exporter as a child process with these sources, on a free port; yields it and
    its port (for benchmarks: its output is not read)."""
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.yml"
        config.write_text(yaml.safe_dump({"sources": sources}))
        port = free_port()
        proc = subprocess.Popen(
            [
                COMMAND,
                f"--config.file={config}",
                f"--web.listen-address=127.0.0.1:{port}",
                f"--log.level={log_level}",
                *args,
            ],
            env=dict(env) if env is not None else None,
        )
        try:
            yield proc, port
        finally:
            proc.terminate()
            proc.wait(10)


# What systemd does for a socket unit's service: the sockets as descriptors 3, 4, ...,
# LISTEN_FDS their count and LISTEN_PID the service's pid, then exec. (argv: the inherited
# descriptors, "--", the command.)
SYSTEMD_LAUNCH = """
import fcntl, os, sys
split = sys.argv.index("--")
fds = [int(fd) for fd in sys.argv[1:split]]
end = 3 + len(fds)
moved = [fcntl.fcntl(fd, fcntl.F_DUPFD, end) for fd in fds]  # out of the way first
for fd in fds:
    if fd >= end:
        os.close(fd)
for target, fd in enumerate(moved, 3):
    os.dup2(fd, target)
    os.close(fd)
os.environ["LISTEN_FDS"] = str(len(fds))
os.environ["LISTEN_PID"] = str(os.getpid())
os.execv(sys.argv[split + 1], sys.argv[split + 1 :])
"""
_PORT_LINE = re.compile(r"address=\S*:(\d+)|localhost:(\d+)/metrics|\"address\": \"\S*:(\d+)\"")


def http_get(url: str, timeout: float = 10) -> tuple[int, str]:
    """Status and body; an HTTP error status is returned, not raised."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


class ExporterProcess:
    """``campaign-exporter`` as a real process on a free loopback port.

    Its stderr is drained in a thread (debug logging would otherwise fill the pipe and
    stall it) and kept in ``lines``; ``base`` is its URL once it listens.
    """

    def __init__(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
        open_files: int | None = None,
        systemd_sockets: Sequence[socket.socket] = (),
    ) -> None:
        def limit_open_files() -> None:
            if open_files is not None:
                hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
                resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, hard))

        command = [COMMAND, "--web.listen-address=127.0.0.1:0", *args]
        fds = [sock.fileno() for sock in systemd_sockets]
        if fds:  # started as systemd starts a socket-activated service
            command = [sys.executable, "-c", SYSTEMD_LAUNCH, *map(str, fds), "--", *command]
        self.proc = subprocess.Popen(
            command,
            pass_fds=fds,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            env=dict(env) if env is not None else None,
            # setrlimit between fork and exec: the only moment it applies to the child alone
            preexec_fn=limit_open_files if open_files is not None else None,
        )
        paths = [a.split("=", 1)[1] for a in args if a.startswith("--web.telemetry-path=")]
        self.metrics_path = paths[-1] if paths else "/metrics"
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()
        self.base = f"http://127.0.0.1:{self._port()}"

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    def _port(self) -> str:
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end:
            for line in list(self.lines):
                if match := _PORT_LINE.search(line):
                    return next(g for g in match.groups() if g)
            assert self.proc.poll() is None, "exporter exited: " + "".join(self.lines)[-2000:]
            time.sleep(0.02)
        pytest.fail("the exporter never said where it listens")

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.base.removeprefix("http://").rsplit(":", 1)
        return host, int(port)

    def rss_mib(self) -> float:
        return rss_mib(self.proc.pid)

    def get(self, path: str) -> tuple[int, str]:
        return http_get(self.base + path)

    def wait_ready(self, deadline: float = DEADLINE) -> None:
        """Until ``/-/ready`` answers 200 and every source has ended its first round (its
        first walk and the reads due then): what the campaigns were at start is on
        /metrics. (Ready itself comes as soon as each source published something.)"""
        rounds = "campaign_exporter_source_refreshes_total"

        def ready() -> bool:
            assert self.proc.poll() is None, "exporter exited: " + "".join(self.lines)[-2000:]
            if self.get("/-/ready")[0] != 200:
                return False
            samples = self.scrape([rounds, "campaign_exporter_source_up"])
            sources = {
                labels["source"] for labels, _ in samples.values("campaign_exporter_source_up")
            }
            return all(
                sum(v for _, v in samples.values(rounds, source=name)) >= 1 for name in sources
            )

        wait_for_sync(ready, "the exporter to be ready, its first rounds ended", deadline)

    def wait_states_read(self, deadline: float = DEADLINE) -> None:
        """Until ``/-/ready`` answers 200 and every listed campaign's state has been read
        once (no campaign unread): the whole fleet is on /metrics, counts and setup may
        still come."""
        unread = "campaign_exporter_source_campaigns_unread"

        def read() -> bool:
            assert self.proc.poll() is None, "exporter exited: " + "".join(self.lines)[-2000:]
            if self.get("/-/ready")[0] != 200:
                return False
            values = [v for _, v in self.scrape([unread]).values(unread)]
            return bool(values) and not any(values)

        wait_for_sync(read, "every listed campaign's state to be read", deadline)

    def scrape(self, names: Sequence[str] | None = None) -> Samples:
        """/metrics read back; only the families ``names`` when given."""
        query = urllib.parse.urlencode(names_query(names))
        path = self.metrics_path
        status, text = self.get(f"{path}?{query}" if query else path)
        assert status == 200
        return Samples(text)

    def refreshes(self, source: str) -> float:
        """Refreshes of ``source`` so far, from one small scrape."""
        name = "campaign_exporter_source_refreshes_total"
        return sum(v for _, v in self.scrape([name]).values(name, source=source))

    def wait_refreshes(self, source: str, count: float) -> None:
        """Until ``source`` has finished ``count`` refreshes, scraping only their counter."""
        wait_for_sync(lambda: self.refreshes(source) >= count, f"{count:g} refreshes of {source}")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self._reader.join(10)
        return code

    def __enter__(self) -> ExporterProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def age_books(file: Path, seconds: float) -> None:
    """Make the books in ``file`` (a stopped exporter's ``books.sqlite``) what a run that
    ended ``seconds`` earlier would have left: every time the exporter learned moves back
    (each row's read, state-since and first-seen times; in a snapshot its read time, when
    each pipeline stage last moved, the start window a GreenArrow campaign was found in; a
    finish time the exporter saw). The vendors' own times stay: the test moves the
    simulator's clock to match."""
    db = sqlite3.connect(file)
    rows = db.execute("SELECT source, campaign_id, snapshot, finished_at FROM campaigns")
    for source, cid, text, finished in rows.fetchall():
        doc = json.loads(text)
        snap = doc["snapshot"]
        for name in ("read_at", "started_after"):
            if snap.get(name) is not None:
                snap[name] -= seconds
        if "progress" in snap:
            snap["progress"] = {stage: at - seconds for stage, at in snap["progress"].items()}
        vendors = (snap.get("status") or {}).get("completed_at")
        if finished is not None and finished != vendors:
            finished -= seconds
        db.execute(
            "UPDATE campaigns SET snapshot = ?, finished_at = ?, updated_at = updated_at - ?,"
            " state_since = state_since - ?, first_seen = first_seen - ?"
            " WHERE source = ? AND campaign_id = ?",
            (json.dumps(doc), finished, seconds, seconds, seconds, source, cid),
        )
    db.commit()
    db.close()
