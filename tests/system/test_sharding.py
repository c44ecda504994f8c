"""Three replicas with --shard/--total-shards export every campaign exactly once."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from exporter.books.shard import Shard
from exporter.simulator import SimulatorSettings, SimulatorThread

from ..helpers import COMMAND, ExporterProcess, Samples, experiture_source, ga_source


def test_shards_split_every_campaign_exactly_once(tmp_path: Path) -> None:
    settings = SimulatorSettings(experiture_campaigns=300, greenarrow_campaigns=300, speed=0)
    with SimulatorThread(settings) as sim:
        config = tmp_path / "config.yml"
        config.write_text(
            yaml.safe_dump({"sources": [experiture_source(sim.url), ga_source(sim.url)]})
        )
        now = sim.sim.clock.now()
        exp_truth = {
            c["campaign_id"]
            for c in sim.sim.experiture.truth(now)
            if c["authoring_status"] == "published" and c["campaign_type"] == "broadcast"
        }
        ga_truth = {c["campaign_id"] for c in sim.sim.greenarrow.truth(now)}
        replicas = [
            ExporterProcess(f"--config.file={config}", f"--shard={i}", "--total-shards=3")
            for i in range(3)
        ]
        try:
            for replica in replicas:
                replica.wait_ready()
            scrapes = [Samples(replica.get("/metrics")[1]) for replica in replicas]
        finally:
            for replica in replicas:
                replica.stop()
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
        assert samples.value("campaign_exporter_total_shards") == 3


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
