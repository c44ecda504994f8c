"""Shipping: the image's Dockerfile and install steps, the Kubernetes manifests, the local
stack's configs and script."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from ..helpers import ExporterProcess, kustomize, manifest_generator, require_binary, run_cli

ROOT = Path(__file__).parents[2]
BIN = Path(sys.executable).parent
WHEELHOUSE = ROOT / ".cache" / "wheelhouse"


def run(*args: str | Path, cwd: Path = ROOT, timeout: float = 300) -> str:
    result = subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, f"{args}: {result.stdout}{result.stderr}"
    return result.stdout


def test_hadolint_is_clean() -> None:
    run(BIN / "hadolint", "Dockerfile")


def copy_source(src: Path) -> None:
    """What a package is built from, without what a build or a run left behind."""
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, src)
    shutil.copytree(
        ROOT / "exporter",
        src / "exporter",
        ignore=shutil.ignore_patterns("__pycache__", "build_info.json"),
    )


def install_into_venv(venv: Path, src: Path, **env: str) -> Path:
    """``pip install <src>`` (not editable) into a new venv, offline from the wheelhouse."""
    if not WHEELHOUSE.is_dir():
        pytest.fail("no wheelhouse: run scripts/test, which builds it")
    run(sys.executable, "-m", "venv", venv)
    pip = [str(venv / "bin" / "pip"), "install", "--no-cache-dir", "--disable-pip-version-check"]
    pip += ["--no-index", "--find-links", str(WHEELHOUSE), str(src)]
    result = subprocess.run(
        pip, capture_output=True, text=True, timeout=300, check=False, env={**os.environ, **env}
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return venv


def git_commit(src: Path) -> str:
    """``src`` made a git checkout of one commit; its hash."""
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_SYSTEM": os.devnull}
    env |= {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com"}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "release"]):
        subprocess.run(["git", *args], cwd=src, env=env, check=True, capture_output=True)
    return run("git", "rev-parse", "HEAD", cwd=src).strip()


def test_a_plain_install_from_a_git_checkout_names_release_revision_and_date(
    tmp_path: Path,
) -> None:
    """``pip install .``, not editable: the release from pyproject.toml, the checkout's
    revision and the build's date (SOURCE_DATE_EPOCH), not "unknown"."""
    src = tmp_path / "src"
    copy_source(src)
    head = git_commit(src)
    venv = install_into_venv(tmp_path / "venv", src, SOURCE_DATE_EPOCH="1893553445")
    version = subprocess.run(
        [venv / "bin" / "campaign-exporter", "--version"],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # not the checkout: the installed copy reads no git
        env={k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGN_EXPORTER_")},
        check=True,
    ).stdout.splitlines()
    assert len(head) == 40
    assert version[0] == f"campaign-exporter, version 0.1.0 (revision: {head})"
    assert version[1] == "  build date:       2030-01-02T03:04:05Z"


def test_a_wheel_built_outside_git_has_its_date_and_no_revision(tmp_path: Path) -> None:
    """An unpacked source without git: the date of the build, and no made-up revision."""
    src = tmp_path / "src"
    copy_source(src)
    out = tmp_path / "wheels"
    if not WHEELHOUSE.is_dir():
        pytest.fail("no wheelhouse: run scripts/test, which builds it")
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check"]
    pip += ["--no-index", "--find-links", str(WHEELHOUSE), "--wheel-dir", str(out), str(src)]
    result = subprocess.run(
        pip,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "SOURCE_DATE_EPOCH": "1893553445"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = out.glob("campaign_exporter-0.1.0-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        stamp = json.loads(archive.read("exporter/build_info.json"))
    assert stamp == {"build_date": "2030-01-02T03:04:05Z"}


def test_the_image_install_steps_work_in_a_fresh_venv(tmp_path: Path) -> None:
    """What the Dockerfile copies, installed as its RUN step does, then the entrypoint run."""
    if not WHEELHOUSE.is_dir():
        pytest.fail("no wheelhouse: run scripts/test, which builds it")
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install --no-cache-dir --disable-pip-version-check /src" in dockerfile
    assert "COPY pyproject.toml setup.py README.md ./" in dockerfile
    src = tmp_path / "src"
    allowed = [
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    ]
    for copied in ("pyproject.toml", "setup.py", "README.md", "exporter", "config.example.yaml"):
        assert copied in allowed, f"the image copies {copied} but .dockerignore drops it"
    copy_source(src)
    # the build stage's printf, with the build arguments a release would pass
    stamp = """printf '{"revision": "%s", "build_date": "%s"}\\n' """ + '"$REVISION" "$BUILD_DATE"'
    assert stamp in dockerfile
    subprocess.run(
        ["sh", "-c", stamp + " > exporter/build_info.json"],
        cwd=src,
        env={"REVISION": "0123abc", "BUILD_DATE": "2030-01-02T03:04:05Z"},
        check=True,
    )
    venv = install_into_venv(tmp_path / "venv", src)
    version = run(venv / "bin" / "campaign-exporter", "--version").splitlines()
    assert version[0] == "campaign-exporter, version 0.1.0 (revision: 0123abc)"
    assert version[1] == "  build date:       2030-01-02T03:04:05Z"
    assert '  CMD ["campaign-exporter", "--healthcheck"]' in dockerfile
    run(
        venv / "bin" / "campaign-exporter",
        "--config.check",
        f"--config.file={ROOT / 'tests' / 'fixtures' / 'image-config.yml'}",
    )


def test_generated_manifests_are_up_to_date() -> None:
    gen = manifest_generator()
    for name, build in gen.OUTPUTS.items():
        committed = (ROOT / "deploy" / "kubernetes" / "base" / name).read_text()
        assert committed == gen.render(build), (
            f"{name} is stale: run python deploy/kubernetes/generate.py"
        )


@pytest.mark.parametrize("overlay", ["base", "sharded"])
def test_kustomize_renders_a_hardened_workload(overlay: str) -> None:
    docs = kustomize(overlay)
    kinds = {d["kind"] for d in docs}
    assert {"StatefulSet", "Service", "ServiceMonitor", "PrometheusRule", "ConfigMap"} <= kinds
    assert "Deployment" not in kinds
    [workload] = [d for d in docs if d["kind"] == "StatefulSet"]
    pod = workload["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    [container] = pod["containers"]
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/-/healthy"
    assert container["readinessProbe"]["httpGet"]["path"] == "/-/ready"
    assert {v["name"] for v in pod["volumes"]} == {"config", "credentials"}
    # the config as a directory, never a subPath (Kubernetes does not update a subPath),
    # and the flag pointing into it: an edited ConfigMap is reloaded without a restart
    [mount] = [m for m in container["volumeMounts"] if m["name"] == "config"]
    assert mount == {
        "name": "config",
        "mountPath": "/etc/campaign-exporter/config",
        "readOnly": True,
    }
    assert "--config.file=/etc/campaign-exporter/config/config.yml" in container["args"]
    selector = workload["spec"]["selector"]["matchLabels"]
    assert selector["app.kubernetes.io/name"] == "campaign-exporter"
    [service] = [d for d in docs if d["kind"] == "Service"]
    assert service["spec"]["selector"] == selector
    if overlay == "sharded":
        assert workload["spec"]["replicas"] == 3
        assert container["args"][-2:] == ["--shard=$(SHARD)", "--total-shards=3"]
        [shard] = container["env"]
        assert shard["valueFrom"]["fieldRef"]["fieldPath"] == (
            "metadata.labels['apps.kubernetes.io/pod-index']"
        )
    else:
        assert workload["spec"]["replicas"] == 1


@pytest.mark.parametrize("overlay", ["base", "sharded"])
def test_kustomize_keeps_the_books_on_a_claim_per_pod(overlay: str) -> None:
    """A StatefulSet's volumeClaimTemplates, not a Deployment's shared claim: each pod (each
    shard) its own ReadWriteOnce volume, kept across deploys and node drains, never two
    pods on it at once; the exporter's group owns it (fsGroup); --storage.path points at
    it."""
    [workload] = [d for d in kustomize(overlay) if d["kind"] == "StatefulSet"]
    [claim] = workload["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "data"
    assert claim["spec"] == {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "1Gi"}},
    }
    pod = workload["spec"]["template"]["spec"]
    assert pod["securityContext"]["fsGroup"] == 10001
    assert pod["securityContext"]["runAsGroup"] == 10001
    assert pod["securityContext"]["fsGroupChangePolicy"] == "OnRootMismatch"
    [container] = pod["containers"]
    assert {"name": "data", "mountPath": "/var/lib/campaign-exporter"} in container["volumeMounts"]
    assert "--storage.path=/var/lib/campaign-exporter" in container["args"]
    assert "data" not in {v["name"] for v in pod["volumes"]}  # the claim, not an emptyDir
    assert workload["spec"].get("updateStrategy", {}).get("type", "RollingUpdate") == (
        "RollingUpdate"
    )
    # the image's own default: the same directory, a volume of its own
    assert 'VOLUME ["/var/lib/campaign-exporter"]' in (ROOT / "Dockerfile").read_text()


@pytest.mark.parametrize("overlay", ["base", "sharded"])
def test_the_kustomize_flags_and_config_pass_the_exporters_own_check(
    tmp_path: Path, overlay: str
) -> None:
    """The workload's args, as Kubernetes expands them ($(SHARD): pod 2), and its
    ConfigMap, with the secret files and the claim's directory moved into tmp_path:
    campaign-exporter --config.check accepts them."""
    docs = kustomize(overlay)
    [workload] = [d for d in docs if d["kind"] == "StatefulSet"]
    [config] = [d for d in docs if d["metadata"]["name"] == "campaign-exporter-config"]
    secrets = "/etc/campaign-exporter/secrets/"
    for name in ("experiture-token", "ga-key"):
        (tmp_path / name).write_text("s3cret")
    text = config["data"]["config.yml"].replace(secrets, f"{tmp_path}/")
    (tmp_path / "config.yml").write_text(text)
    moved = {
        "--config.file=/etc/campaign-exporter/config/config.yml": (
            f"--config.file={tmp_path}/config.yml"
        ),
        "--storage.path=/var/lib/campaign-exporter": f"--storage.path={tmp_path}/books",
    }
    [container] = workload["spec"]["template"]["spec"]["containers"]
    args = [moved.get(a, a).replace("$(SHARD)", "2") for a in container["args"]]
    assert f"--storage.path={tmp_path}/books" in args
    result = run_cli(*args, "--config.check")
    assert result.returncode == 0, result.stderr


def test_prometheus_rule_and_dashboards_come_from_the_repository_files() -> None:
    docs = kustomize("base")
    [rule] = [d for d in docs if d["kind"] == "PrometheusRule"]
    groups = []
    for name in ("alerts.yml", "rules.yml"):
        groups += yaml.safe_load((ROOT / "prometheus" / name).read_text())["groups"]
    assert rule["spec"]["groups"] == groups
    [boards] = [
        d
        for d in docs
        if d["kind"] == "ConfigMap"
        and d["metadata"].get("labels", {}).get("grafana_dashboard") == "1"
    ]
    files = {
        p.name: json.loads(p.read_text()) for p in (ROOT / "grafana" / "dashboards").glob("*.json")
    }
    assert {k: json.loads(v) for k, v in boards["data"].items()} == files


def test_compose_configs_pass_promtool_and_amtool(tmp_path: Path) -> None:
    promtool, amtool = require_binary("promtool"), require_binary("amtool")
    # the layout the compose file mounts: rules beside the config, under campaign-exporter/
    shutil.copy(ROOT / "deploy" / "compose" / "prometheus.yml", tmp_path)
    (tmp_path / "campaign-exporter").symlink_to(ROOT / "prometheus")
    run(promtool, "check", "config", tmp_path / "prometheus.yml")
    run(amtool, "check-config", ROOT / "deploy" / "compose" / "alertmanager.yml")
    compose = yaml.safe_load((ROOT / "deploy" / "compose" / "docker-compose.yml").read_text())
    assert set(compose["services"]) == {"exporter", "prometheus", "alertmanager", "grafana"}
    assert "--demo" in compose["services"]["exporter"]["command"]


def test_compose_keeps_the_books_in_a_named_volume(tmp_path: Path) -> None:
    """A named volume (kept across down and up, unlike the image's anonymous one) on the
    image's VOLUME, and --storage.path on it; the exporter's command as compose runs it
    (its directory moved into tmp_path) writes the books there."""
    compose = yaml.safe_load((ROOT / "deploy" / "compose" / "docker-compose.yml").read_text())
    exporter = compose["services"]["exporter"]
    assert exporter["volumes"] == ["books:/var/lib/campaign-exporter"]
    assert compose["volumes"] == {"books": {}}
    assert 'VOLUME ["/var/lib/campaign-exporter"]' in (ROOT / "Dockerfile").read_text()
    command = exporter["command"]
    assert "--storage.path=/var/lib/campaign-exporter" in command
    books = tmp_path / "books"
    args = [
        f"--storage.path={books}" if a.startswith("--storage.path=") else a
        for a in command
        if not a.startswith("--web.listen-address=")  # the test's own port instead
    ]
    with ExporterProcess(*args, "--demo.campaigns=5") as exp:
        writable = "campaign_exporter_storage_writable"
        assert exp.scrape([writable]).value(writable) == 1
        exp.wait_ready()
        assert exp.stop() == 0
    assert (books / "books.sqlite").stat().st_size > 0


def free_ports(*names: str) -> dict[str, str]:
    ports = {}
    for name in names:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            ports[name] = str(sock.getsockname()[1])
    return ports


STACK_PORTS = ("EXPORTER_PORT", "PROMETHEUS_PORT", "ALERTMANAGER_PORT")


def test_local_stack_prints_links_that_work_and_exits_when_a_child_dies(
    tmp_path: Path,
) -> None:
    """It prints where to watch, each of which answers (an amtool command where Debian's
    Alertmanager has no UI); a child that dies takes the script down, log shown."""
    require_binary("prometheus")
    amtool = require_binary("amtool")
    ports = free_ports(*STACK_PORTS)
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen(
            [ROOT / "scripts" / "local-stack"],
            env={**os.environ, **ports},
            cwd=ROOT,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
    try:
        end = time.monotonic() + 150
        while "Ctrl-C stops everything" not in out.read_text():
            assert proc.poll() is None, f"local-stack exited: {err.read_text()}"
            assert time.monotonic() < end, "local-stack never said it was up"
            time.sleep(0.2)
        links = dict(
            line.split(None, 1) for line in out.read_text().splitlines() if line.startswith("  ")
        )
        for name in ("exporter", "prometheus"):
            with urllib.request.urlopen(links[name], timeout=10) as resp:  # noqa: S310 - loopback
                assert resp.status == 200, links[name]
        alerts = f"http://localhost:{ports['PROMETHEUS_PORT']}/classic/alerts"
        assert links["prometheus"] == alerts, "Debian's Prometheus has only the classic UI"
        command = links["alertmanager"].split("   (")[0].split()
        assert command[0] == "amtool"
        listed = subprocess.run(
            [amtool, *command[1:]], capture_output=True, text=True, timeout=30, check=True
        )
        assert listed.stdout.startswith("Alertname")
        query = "query=up%7Bjob%3D%22campaign-exporter%22%7D"
        url = f"http://127.0.0.1:{ports['PROMETHEUS_PORT']}/api/v1/query?{query}"
        while True:
            with urllib.request.urlopen(url, timeout=5) as resp:
                result = json.loads(resp.read())["data"]["result"]
            if result and result[0]["value"][1] == "1":
                break
            assert time.monotonic() < end, "Prometheus never scraped the demo exporter"
            time.sleep(0.5)
        [exporter] = subprocess.run(
            ["pgrep", "-P", str(proc.pid), "-f", "campaign-exporter"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        os.kill(int(exporter), signal.SIGKILL)
        assert proc.wait(30) == 1
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(20)
    # (bash reports the killed job on a line of its own first)
    report = err.read_text()
    assert "local-stack: exporter exited (code 137); the end of its log:" in report
    assert "prometheus exited" not in report and "alertmanager exited" not in report


def start_local_stack(tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path, Path]:
    """scripts/local-stack in a session of its own; its process, stdout and stderr files."""
    require_binary("prometheus")
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen(
            [ROOT / "scripts" / "local-stack"],
            env={**os.environ, **free_ports(*STACK_PORTS)},
            cwd=ROOT,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
    return proc, out, err


def children_of(pid: int) -> set[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return {int(child) for child in found.stdout.split()}


def wait_for(condition: Callable[[], object], what: str, seconds: float = 150) -> None:
    end = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < end, what
        time.sleep(0.1)


@pytest.mark.parametrize(
    ("signum", "group", "when"),
    [
        (signal.SIGINT, True, "up"),
        (signal.SIGINT, True, "starting"),
        (signal.SIGTERM, False, "up"),
        (signal.SIGTERM, True, "up"),
    ],
    ids=["ctrl-c", "ctrl-c-while-starting", "sigterm", "sigterm-to-the-group"],
)
def test_local_stack_stops_quietly_on_ctrl_c_and_sigterm(
    tmp_path: Path, signum: signal.Signals, group: bool, when: str
) -> None:
    """Ctrl-C signals the terminal's whole foreground group; ``kill`` the script alone.
    Either way: exit 0, nothing on stderr (it used to report a Prometheus that had exited
    cleanly, with a log it had already removed), no child left."""
    proc, out, err = start_local_stack(tmp_path)
    children: set[int] = set()
    try:
        if when == "up":
            wait_for(lambda: "Ctrl-C stops everything" in out.read_text(), "never up")
        else:  # the three started, their answers awaited
            wait_for(lambda: len(children_of(proc.pid)) >= 3, "never started", 60)
        children = children_of(proc.pid)
        (os.killpg if group else os.kill)(proc.pid, signum)
        code = proc.wait(30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    assert code == 0
    assert err.read_text() == ""
    assert "Traceback" not in out.read_text()
    try:
        wait_for(lambda: not any(Path(f"/proc/{c}").exists() for c in children), "left", 10)
    finally:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)


def test_local_stack_exits_with_the_log_of_a_child_that_cannot_start(tmp_path: Path) -> None:
    require_binary("prometheus")
    ports = free_ports(*STACK_PORTS)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", int(ports["PROMETHEUS_PORT"])))
        taken.listen()
        result = subprocess.run(
            [ROOT / "scripts" / "local-stack"],
            env={**os.environ, **ports},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            start_new_session=True,
            check=False,
        )
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0] == "local-stack: prometheus exited (code 1); the end of its log:"
    assert "address already in use" in lines[-1]
