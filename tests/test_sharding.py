"""Three replicas with --shard/--total-shards export every campaign exactly once."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from exporter.shard import Shard
from exporter.simulator import SimulatorSettings, SimulatorThread

from .helpers import Samples

COMMAND = str(Path(sys.executable).parent / "campaign-exporter")


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - loopback URL
        return str(resp.read().decode())


@contextlib.contextmanager
def replicas(config: Path, total: int) -> Iterator[list[str]]:
    procs = [
        subprocess.Popen(
            [
                COMMAND,
                f"--config.file={config}",
                "--web.listen-address=127.0.0.1:0",
                f"--shard={i}",
                f"--total-shards={total}",
            ],
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(total)
    ]
    try:
        bases = []
        for proc in procs:
            assert proc.stderr is not None
            while True:
                line = proc.stderr.readline()
                assert line, "replica exited early"
                if "msg=listening" in line:
                    bases.append("http://" + line.rsplit("=", 1)[1].strip())
                    break
        yield bases
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)


def ready(base: str) -> bool:
    try:
        return _get(f"{base}/-/ready").startswith("Ready")
    except urllib.error.HTTPError:
        return False


def test_shards_split_every_campaign_exactly_once(tmp_path: Path) -> None:
    settings = SimulatorSettings(experiture_campaigns=300, greenarrow_campaigns=300, speed=0)
    with SimulatorThread(settings) as sim:
        config = tmp_path / "config.yml"
        config.write_text(
            yaml.safe_dump(
                {
                    "sources": [
                        {
                            "name": "prod",
                            "type": "experiture",
                            "base_url": f"{sim.url}/public/v1",
                            "authorization": {"credentials": "demo-token"},
                            "poll_interval": "1h",
                        },
                        {
                            "name": "ga",
                            "type": "greenarrow",
                            "base_url": sim.url,
                            "lookback": "90d",
                            "retention": "365d",
                            "poll_interval": "1h",
                            "basic_auth": {"username": "1", "password": "demo-ga-key"},
                        },
                    ]
                }
            )
        )
        now = sim.sim.clock.now()
        exp_truth = {
            c["campaign_id"]
            for c in sim.sim.experiture.truth(now)
            if c["authoring_status"] == "published" and c["campaign_type"] == "broadcast"
        }
        ga_truth = {c["campaign_id"] for c in sim.sim.greenarrow.truth(now)}
        with replicas(config, 3) as bases:
            end = time.monotonic() + 60
            while not all(ready(b) for b in bases):
                assert time.monotonic() < end, "replicas never ready"
                time.sleep(0.1)
            scrapes = [Samples(_get(f"{b}/metrics")) for b in bases]
    for name, truth in (
        ("experiture_campaign_info", exp_truth),
        ("greenarrow_campaign_info", ga_truth),
    ):
        parts = [set(s.by_campaign(name)) for s in scrapes]
        assert all(parts), "every replica owns some campaigns"
        assert set().union(*parts) == truth
        assert sum(len(p) for p in parts) == len(truth), "no campaign on two replicas"
    for i, samples in enumerate(scrapes):
        assert samples.value("campaign_exporter_shard_info", shard=str(i), total_shards="3") == 1


@pytest.mark.parametrize(("index", "total"), [(0, 0), (3, 3), (-1, 2)])
def test_bad_shard_flags_are_refused(index: int, total: int) -> None:
    with pytest.raises(ValueError, match="need 0 <= shard < total"):
        Shard(index, total)
    result = subprocess.run(
        [COMMAND, f"--shard={index}", f"--total-shards={total}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip().startswith("campaign-exporter: --shard:")
