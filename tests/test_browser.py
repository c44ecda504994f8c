"""The status page in a real headless Chromium, against the demo: a screenshot, and the
rendered DOM holding both sources' campaign tables."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

from .helpers import ExporterProcess, require_binary

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


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_status_page_in_headless_chromium(tmp_path: Path) -> None:
    chromium = require_binary("chromium")
    with ExporterProcess("--demo", "--demo.campaigns=80") as demo:
        demo.wait_ready()
        shot = tmp_path / "status.png"
        browser = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
        subprocess.run(
            [*browser, "--window-size=1400,1800", f"--screenshot={shot}", f"{demo.base}/"],
            capture_output=True,
            timeout=120,
            check=True,
        )
        dom = subprocess.run(
            [*browser, "--dump-dom", f"{demo.base}/"],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
    assert png_size(shot) == (1400, 1800)
    assert shot.stat().st_size > 20_000, "a blank page compresses to almost nothing"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, ARTIFACTS / "status-page.png")
    for source in ("demo-experiture", "demo-greenarrow"):
        assert f'id="source-{source}"' in dom
    rows = re.findall(r"<tr><td><code>[^<]+</code></td>", dom)
    assert len(rows) > 50
    assert 'class="state active"' in dom and 'class="bar"' in dom
