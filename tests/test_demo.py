"""The demo command as a newcomer runs it: a real process, real HTTP, real signals."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from .helpers import Samples

COMMAND = str(Path(sys.executable).parent / "campaign-exporter")
DEADLINE = 60.0


def _wait_line(proc: subprocess.Popen[str], pattern: str) -> re.Match[str]:
    end = time.monotonic() + DEADLINE
    assert proc.stderr is not None
    while time.monotonic() < end:
        line = proc.stderr.readline()
        if not line:
            break
        match = re.search(pattern, line)
        if match:
            return match
    raise AssertionError(f"no line matching {pattern!r} from the demo")


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - loopback URL
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def test_demo_serves_campaign_metrics_and_stops_cleanly_on_sigterm() -> None:
    proc = subprocess.Popen(
        [COMMAND, "--demo", "--web.listen-address=127.0.0.1:0", "--demo.campaigns=60"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        port = _wait_line(proc, r"metrics at http://localhost:(\d+)/metrics").group(1)
        base = f"http://127.0.0.1:{port}"
        end = time.monotonic() + DEADLINE
        while _get(f"{base}/-/ready")[0] != 200:
            assert time.monotonic() < end, "demo never became ready"
            time.sleep(0.1)
        status, text = _get(f"{base}/metrics")
        assert status == 200
        samples = Samples(text)
        assert samples.value("campaign_exporter_source_up", source="demo-experiture") == 1
        assert len(samples.values("experiture_campaign_execution_state", state="running")) > 20
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        assert proc.wait(timeout=10) == 0
        print(f"stopped {time.monotonic() - started:.3f}s after SIGTERM")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
