"""A hostile upstream against the exporter as a real process: hostile text everywhere never
ends it, and an oversized or bombed body is refused within the size cap and bounded memory.
The other attacks, one test each, are in tests/integration/test_hostile.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.simulator import SimulatorSettings, SimulatorThread
from exporter.simulator.faults import Fault

from ..helpers import ExporterProcess, Samples, peak_rss_mib, wait_for_sync, write_config
from ..hostile_upstream import COUNTED, campaigns, errors, sources

MIB = 1024**2


def test_a_hostile_string_everywhere_never_ends_the_process(tmp_path: Path) -> None:
    """As a real process: both APIs, every endpoint, names, states and error messages."""
    thread = SimulatorThread(SimulatorSettings(experiture_campaigns=12, greenarrow_campaigns=20))
    with thread as sim:
        for api in ("experiture", "greenarrow"):
            thread.sim.faults.add(Fault(kind="bad_text", api=api, probability=0.7))
            thread.sim.faults.add(Fault(kind="echo_credentials", api=api, probability=0.2))
        config = write_config(tmp_path, {"sources": sources(sim.url)})
        with ExporterProcess(f"--config.file={config}") as exp:
            exp.wait_ready()

            exp.wait_refreshes("exp", 5)  # under hostile text
            assert exp.proc.poll() is None, "".join(exp.lines)[-2000:]
            assert exp.get("/")[0] == 200


@pytest.mark.parametrize(
    ("kind", "size"), [("gzip_bomb", 512 * MIB), ("huge_body", 64 * MIB)], ids=["bomb", "huge"]
)
@pytest.mark.parametrize(
    ("api", "endpoint", "source"),
    [("experiture", "list", "exp"), ("greenarrow", "system_campaigns", "ga")],
    ids=["exp", "ga"],
)
def test_an_oversized_body_is_refused_within_the_size_cap(
    tmp_path: Path, kind: str, size: int, api: str, endpoint: str, source: str
) -> None:
    thread = SimulatorThread(SimulatorSettings(experiture_campaigns=12, greenarrow_campaigns=20))
    with thread as sim:
        config = write_config(tmp_path, {"sources": sources(sim.url)})
        with ExporterProcess(f"--config.file={config}") as exp:
            exp.wait_ready()
            before = exp.scrape(COUNTED)
            thread.sim.faults.add(Fault(kind=kind, api=api, endpoint=endpoint, size=size))  # type: ignore[arg-type]

            def refused_twice() -> Samples | None:
                samples = exp.scrape(COUNTED)
                return samples if errors(samples, source, "too_large") >= 2 else None

            during = wait_for_sync(refused_twice, "two bodies refused as too large")
            assert campaigns(during) == campaigns(before), "last good values kept"
            assert during.value("campaign_exporter_source_up", source=source) == 0
            peak = peak_rss_mib(exp.proc.pid)
            assert peak < 200, f"peak RSS {peak:.0f} MiB"
