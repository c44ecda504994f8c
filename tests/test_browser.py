"""The status page in a real headless Chromium, against the demo: a screenshot, and the
rendered DOM holding both sources' campaign tables."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from .helpers import require_binary

COMMAND = str(Path(sys.executable).parent / "campaign-exporter")
ARTIFACTS = Path(__file__).parent.parent / ".cache" / "artifacts"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def _ready(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/-/ready", timeout=5):  # noqa: S310 - loopback
            return True
    except (urllib.error.URLError, OSError):
        return False


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_status_page_in_headless_chromium(tmp_path: Path) -> None:
    chromium = require_binary("chromium")
    proc = subprocess.Popen(
        [COMMAND, "--demo", "--web.listen-address=127.0.0.1:0", "--demo.campaigns=80"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stderr is not None
        port = None
        while port is None:
            line = proc.stderr.readline()
            assert line, "demo exited early"
            if m := re.search(r"metrics at http://localhost:(\d+)/", line):
                port = m.group(1)
        base = f"http://127.0.0.1:{port}"
        end = time.monotonic() + 60
        while not _ready(base):
            assert time.monotonic() < end, "demo never ready"
            time.sleep(0.2)
        shot = tmp_path / "status.png"
        browser = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
        subprocess.run(
            [*browser, "--window-size=1400,1800", f"--screenshot={shot}", f"{base}/"],
            capture_output=True,
            timeout=120,
            check=True,
        )
        dom = subprocess.run(
            [*browser, "--dump-dom", f"{base}/"],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
    finally:
        proc.terminate()
        proc.wait(10)
    assert png_size(shot) == (1400, 1800)
    assert shot.stat().st_size > 20_000, "a blank page compresses to almost nothing"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, ARTIFACTS / "status-page.png")
    for source in ("demo-experiture", "demo-greenarrow"):
        assert f'id="source-{source}"' in dom
    rows = re.findall(r"<tr><td><code>[^<]+</code></td>", dom)
    assert len(rows) > 50
    assert 'class="state running"' in dom and 'class="bar"' in dom
