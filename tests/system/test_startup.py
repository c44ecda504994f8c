"""Starting and serving as an operator meets it: an address that cannot be served is one
line and exit 1, never a traceback; a client hanging up mid-scrape is routine, no error."""

from __future__ import annotations

import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from ..helpers import COMMAND, ExporterProcess, experiture_source


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump({"sources": [experiture_source("http://127.0.0.1:9")]}))
    return path


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([COMMAND, *args], capture_output=True, text=True, timeout=60, check=False)


def test_a_busy_port_is_one_line(config: Path, busy_port: int) -> None:
    result = run(f"--config.file={config}", f"--web.listen-address=127.0.0.1:{busy_port}")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f'campaign-exporter: cannot serve: --web.listen-address "127.0.0.1:{busy_port}": '
        "address already in use (another process listens there)"
    ]


def test_the_demo_twice_on_one_port_is_one_line(busy_port: int) -> None:
    result = run("--demo", f"--web.listen-address=127.0.0.1:{busy_port}")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f'campaign-exporter: cannot serve: --web.listen-address "127.0.0.1:{busy_port}": '
        "address already in use (another process listens there)"
    ]


def test_an_address_the_host_lacks_is_one_line(config: Path) -> None:
    # 192.0.2.0/24 is TEST-NET-1: documentation only, on no host's interfaces
    result = run(f"--config.file={config}", "--web.listen-address=192.0.2.1:10123")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        'campaign-exporter: cannot serve: --web.listen-address "192.0.2.1:10123": '
        "this host has no such address"
    ]


def test_an_unknown_host_name_is_one_line(config: Path) -> None:
    result = run(f"--config.file={config}", "--web.listen-address=no-such-host.invalid:10123")
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    # the resolver's own words after the last colon differ between C libraries
    assert line.startswith(
        'campaign-exporter: cannot serve: --web.listen-address "no-such-host.invalid:10123": '
        'cannot resolve host name "no-such-host.invalid": '
    )


def hang_up_mid_response(base: str) -> None:
    """Ask for /metrics, read a little, then reset the connection."""
    port = int(base.rsplit(":", 1)[1])
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", port))
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n")
        sock.recv(1024)
        time.sleep(0.2)  # the server is blocked on a full socket buffer by now
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def test_a_client_hanging_up_mid_scrape_is_no_error() -> None:
    """Every Prometheus scrape timeout hangs up mid-response: routine, not an error."""
    with ExporterProcess("--demo", "--demo.campaigns=2500") as demo:
        # a first round of 2,500 campaigns: over 30 s on a loaded 2-core machine
        demo.wait_ready(deadline=120)
        for _ in range(3):
            hang_up_mid_response(demo.base)
        # a request after the hang-ups is served after them: their handling is done
        assert demo.get("/-/healthy")[0] == 200
        assert demo.get("/metrics")[0] == 200
    assert not [line for line in demo.lines if "level=error" in line or "level=warn" in line]
