"""The process and its config file: SIGHUP reloads and SIGTERM stops it, a hostile file never
takes it down, a kubelet-style ConfigMap update is applied without a signal."""

from __future__ import annotations

import hashlib
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from ..helpers import (
    COMMAND,
    ExporterProcess,
    Samples,
    experiture_source,
    wait_for_sync,
    write_config,
)
from ..hostile_yaml import billion_laughs, deep_nesting


def test_sighup_reloads_and_sigterm_stops_within_two_seconds(tmp_path: Path) -> None:
    from exporter.simulator import SimulatorSettings, SimulatorThread

    with SimulatorThread(SimulatorSettings(experiture_campaigns=20, speed=0)) as sim:
        path = tmp_path / "config.yml"
        write_config(path.parent, {"sources": [experiture_source(sim.url, poll_interval="1h")]})
        with ExporterProcess(f"--config.file={path}") as exporter:
            exporter.wait_ready()
            write_config(
                path.parent,
                {
                    "sources": [
                        experiture_source(sim.url, poll_interval="1h"),
                        experiture_source(sim.url, name="second"),
                    ]
                },
            )
            exporter.proc.send_signal(signal.SIGHUP)
            up = "campaign_exporter_source_up"
            wait_for_sync(
                lambda: exporter.scrape([up]).value(up, source="second") == 1,
                "SIGHUP to load the second source",
            )
            started = time.monotonic()
            assert exporter.stop(signal.SIGTERM) == 0
            assert time.monotonic() - started < 2.0


def post(url: str) -> tuple[int, str]:
    request = urllib.request.Request(url, method="POST")  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310 - loopback
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def reload_ok(exporter: ExporterProcess) -> float | None:
    name = "campaign_exporter_config_last_reload_successful"
    return exporter.scrape([name]).value(name)


def test_a_hostile_config_file_never_takes_the_process_down(tmp_path: Path) -> None:
    """SIGHUP with a file PyYAML recursed on used to exit 1; POST answered 500 and left
    the reload metric at 1. Both now keep the running config and say so once."""
    from exporter.simulator import SimulatorSettings, SimulatorThread

    with SimulatorThread(SimulatorSettings(experiture_campaigns=20, speed=0)) as sim:
        path = tmp_path / "config.yml"
        good = {"sources": [experiture_source(sim.url, poll_interval="1h")]}
        write_config(path.parent, good)
        with ExporterProcess(f"--config.file={path}") as exporter:
            exporter.wait_ready()
            campaigns = Samples(exporter.get("/metrics")[1]).by_campaign("experiture_campaign_info")
            assert campaigns

            path.write_text(deep_nesting())
            exporter.proc.send_signal(signal.SIGHUP)

            def reported() -> bool:
                assert exporter.proc.poll() is None, "".join(exporter.lines)[-2000:]
                return any("config reload failed" in line for line in exporter.lines)

            wait_for_sync(reported, "SIGHUP to report the bad file")
            assert reload_ok(exporter) == 0

            write_config(path.parent, good)
            assert post(f"{exporter.base}/-/reload")[0] == 200
            assert reload_ok(exporter) == 1
            # the SIGHUP reload is long over: every line it wrote is in
            failures = [line for line in exporter.lines if "config reload failed" in line]
            assert len(failures) == 1
            assert (
                f'file={path} err="line 1, column 73: nested deeper than 64 levels"'
                in (failures[0])
            )
            for text, problem in (
                (deep_nesting(), "line 1, column 73: nested deeper than 64 levels"),
                (billion_laughs(), "YAML aliases expand to more than 100000 values"),
            ):
                path.write_text(text)
                assert post(f"{exporter.base}/-/reload") == (
                    500,
                    f"failed to reload config: {path}: {problem}\n",
                )
                assert reload_ok(exporter) == 0
            samples = Samples(exporter.get("/metrics")[1])
            assert samples.by_campaign("experiture_campaign_info") == campaigns
            assert samples.value("campaign_exporter_source_up", source="prod") == 1
            assert exporter.proc.poll() is None
    assert "Traceback" not in "".join(exporter.lines)


def kubelet_config_dir(directory: Path, data: Any) -> Path:
    """A ConfigMap volume as the kubelet writes one: ``config.yml -> ..data/config.yml``,
    ``..data -> ..<timestamp>``."""
    directory.mkdir()
    first = directory / "..2026_12_03_10_00_00.000000001"
    first.mkdir()
    write_config(first, data)
    (directory / "..data").symlink_to(first.name)
    (directory / "config.yml").symlink_to("..data/config.yml")
    return directory / "config.yml"


def kubelet_update(directory: Path, text: str, stamp: str) -> None:
    """An updated ConfigMap as the kubelet applies it: a new timestamped directory, a new
    ``..data`` symlink renamed over the old one, the old directory removed."""
    old = (directory / "..data").readlink()
    new = directory / f"..2026_12_03_{stamp}"
    new.mkdir()
    (new / "config.yml").write_text(text)
    (directory / "..data_tmp").symlink_to(new.name)
    (directory / "..data_tmp").replace(directory / "..data")
    shutil.rmtree(directory / old)


def test_a_kubelet_style_configmap_update_is_applied_without_a_signal(tmp_path: Path) -> None:
    """The config mounted as a directory, as the manifests mount it: the kubelet's
    ``..data`` swap is reloaded after the 1 s settle, a bad update keeps the running
    config and is reported once, and the config info series follows what is in force."""
    from exporter.simulator import SimulatorSettings, SimulatorThread

    with SimulatorThread(SimulatorSettings(experiture_campaigns=20, speed=0)) as sim:
        one = {"sources": [experiture_source(sim.url, poll_interval="1h")]}
        two = {
            "sources": [
                experiture_source(sim.url, poll_interval="1h"),
                experiture_source(sim.url, name="second", poll_interval="1h"),
            ]
        }
        directory = tmp_path / "config"
        path = kubelet_config_dir(directory, one)
        with ExporterProcess(
            f"--config.file={path}", "--config.auto-reload-interval=200ms"
        ) as exporter:
            exporter.wait_ready()
            names = ["campaign_exporter_config_info", "campaign_exporter_source_up"]
            before = exporter.scrape(names)
            assert before.values("campaign_exporter_config_info") == [
                ({"sha256": printed_sha256(path)}, 1.0)
            ]

            kubelet_update(directory, "sources: [", "10_01_00.000000001")

            def reported() -> bool:
                assert exporter.proc.poll() is None, "".join(exporter.lines)[-2000:]
                return any("config reload failed" in line for line in exporter.lines)

            wait_for_sync(reported, "the bad update to be reported")
            assert reload_ok(exporter) == 0
            kept = exporter.scrape(names)
            assert kept.values("campaign_exporter_config_info") == before.values(
                "campaign_exporter_config_info"
            )
            assert kept.value("campaign_exporter_source_up", source="second") is None

            kubelet_update(directory, yaml.safe_dump(two), "10_02_00.000000001")
            up = "campaign_exporter_source_up"
            wait_for_sync(
                lambda: exporter.scrape([up]).value(up, source="second") == 1,
                "the good update to load the second source",
            )
            after = exporter.scrape(names)
            assert reload_ok(exporter) == 1
            assert after.values("campaign_exporter_config_info") == [
                ({"sha256": printed_sha256(path)}, 1.0)
            ]
            assert after.values("campaign_exporter_config_info") != before.values(
                "campaign_exporter_config_info"
            )
            changed = [line for line in exporter.lines if "config file changed" in line]
            failed = [line for line in exporter.lines if "config reload failed" in line]
            assert (len(changed), len(failed)) == (2, 1)


def printed_sha256(path: Path) -> str:
    """``campaign-exporter --config.print | sha256sum``, as the docs say to compare."""
    printed = subprocess.run(
        [COMMAND, f"--config.file={path}", "--config.print"],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    return hashlib.sha256(printed).hexdigest()
