"""The demo command as a newcomer runs it: a real process, real HTTP, real signals."""

from __future__ import annotations

import signal
import time

from ..helpers import ExporterProcess, Samples


def test_demo_serves_campaign_metrics_and_stops_cleanly_on_sigterm() -> None:
    with ExporterProcess("--demo", "--demo.campaigns=60") as demo:
        demo.wait_ready()
        status, text = demo.get("/metrics")
        assert status == 200
        samples = Samples(text)
        for source in ("demo-experiture", "demo-greenarrow"):
            assert samples.value("campaign_exporter_source_up", source=source) == 1
        assert len(samples.values("experiture_campaign_execution_state", state="running")) > 20
        assert samples.values("greenarrow_campaign_messages_sent_total")
        # the naming guide: no label called "type"; the demo polls every 5 s and 10 s
        interval = "campaign_exporter_source_poll_interval_seconds"
        assert samples.value(interval, source="demo-experiture", source_type="experiture") == 5
        assert samples.value(interval, source="demo-greenarrow", source_type="greenarrow") == 10
        started = time.monotonic()
        assert demo.stop(signal.SIGTERM) == 0
        assert time.monotonic() - started < 2.0
