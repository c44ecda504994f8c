"""What the benchmarks share: ports, memory readings, an exporter process."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

COMMAND = str(Path(sys.executable).parent / "campaign-exporter")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextlib.contextmanager
def exporter(
    sources: list[dict[str, Any]],
    log_level: str = "warn",
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """The exporter as a child process with these sources; yields it and its port."""
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
            ]
        )
        try:
            yield proc, port
        finally:
            proc.terminate()
            proc.wait(10)


def experiture_source(sim_url: str, **overrides: Any) -> dict[str, Any]:
    """An Experiture source against the simulator, polled hourly unless told otherwise."""
    return {
        "name": "exp",
        "type": "experiture",
        "base_url": f"{sim_url}/public/v1",
        "authorization": {"credentials": "demo-token"},
        "poll_interval": "1h",
        "concurrency": 16,
        **overrides,
    }


def greenarrow_source(sim_url: str, **overrides: Any) -> dict[str, Any]:
    """A GreenArrow source against the simulator: every campaign it has, kept."""
    return {
        "name": "ga",
        "type": "greenarrow",
        "base_url": sim_url,
        "lookback": "90d",
        "retention": "365d",
        "poll_interval": "1h",
        "basic_auth": {"username": "1", "password": "demo-ga-key"},
        **overrides,
    }
