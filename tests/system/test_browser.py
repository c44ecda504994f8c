"""The status page in a real headless Chromium: against the demo, a screenshot and the
rendered DOM holding both sources' campaign tables; against a fleet with more failed
campaigns than running ones, the layout an operator sees first (over the DevTools
protocol)."""

from __future__ import annotations

import base64
import contextlib
import json
import re
import shutil
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import yaml

from exporter.simulator import SimulatorSettings, SimulatorThread

from ..helpers import DEADLINE, ExporterProcess, experiture_source, http_get, require_binary

ARTIFACTS = Path(__file__).parents[2] / ".cache" / "artifacts"
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


@contextlib.contextmanager
def devtools_browser(chromium: str, profile: Path, width: int, height: int) -> Iterator[int]:
    """Headless Chromium with the DevTools protocol on a free port; yields that port."""
    proc = subprocess.Popen(
        [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            "--remote-debugging-port=0",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        end = time.monotonic() + DEADLINE
        while not (port_file.exists() and port_file.read_text().strip()):
            assert proc.poll() is None, "chromium exited"
            assert time.monotonic() < end, "chromium never opened its DevTools port"
            time.sleep(0.05)
        yield int(port_file.read_text().split()[0])
    finally:
        proc.terminate()
        proc.wait(20)


async def first_screen(port: int, url: str, script: str) -> tuple[Any, bytes]:
    """Open ``url`` in the browser's page; the value of ``script`` once it has loaded,
    and a screenshot of the first screen."""
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/json/list") as resp:
            pages = [t for t in await resp.json() if t["type"] == "page"]
        async with http.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            ids = iter(range(1, 1_000_000))

            async def call(method: str, **params: Any) -> Any:
                ident = next(ids)
                await ws.send_json({"id": ident, "method": method, "params": params})
                while True:
                    message = await ws.receive_json()
                    if message.get("id") == ident:
                        assert "error" not in message, message
                        return message["result"]

            await call("Page.navigate", url=url)
            with anyio.fail_after(DEADLINE):
                while True:
                    state = await call("Runtime.evaluate", expression="document.readyState")
                    if state["result"]["value"] == "complete":
                        break
                    await anyio.sleep(0.05)
            found = await call("Runtime.evaluate", expression=script, returnByValue=True)
            shot = await call("Page.captureScreenshot", format="png")
    return json.loads(found["result"]["value"]), base64.b64decode(shot["data"])


LAYOUT = """JSON.stringify({
  height: window.innerHeight,
  attention: document.querySelector('#attention').getBoundingClientRect().top,
  firstRow: document.querySelector('#attention tr:nth-child(2)').getBoundingClientRect().bottom,
  campaigns: document.querySelector('#campaigns').getBoundingClientRect().top,
  flagged: [...document.querySelectorAll('#attention tr td:first-child code')]
    .map(c => c.textContent),
  title: document.title,
})"""


def test_every_failed_campaign_is_on_the_first_screen_under_needs_attention(
    tmp_path: Path,
) -> None:
    """More failed campaigns than the old page's 200 rows, behind hundreds of running
    ones: the first screen opens on "needs attention", and it lists every failed one."""
    chromium = require_binary("chromium")
    settings = SimulatorSettings(experiture_campaigns=1500, greenarrow_campaigns=0, speed=0)
    with SimulatorThread(settings) as sim:
        world, now = sim.sim.experiture, sim.sim.clock.now()
        polled = [
            c["campaign_id"]
            for c in world.truth(now)
            if c["authoring_status"] == "published" and c["campaign_type"] == "broadcast"
        ]
        for cid in polled[:260]:  # before the exporter starts: nothing else touches them
            world.fail(cid, now)
        failed = {c["campaign_id"] for c in world.truth(now) if c["state"] == "failed"}
        failed &= set(polled)
        running = sum(1 for c in world.truth(now) if c["state"] == "running")
        config = tmp_path / "config.yml"
        config.write_text(yaml.safe_dump({"sources": [experiture_source(sim.url)]}))
        with ExporterProcess(f"--config.file={config}") as exporter:
            exporter.wait_ready()
            assert http_get(exporter.base + "/")[0] == 200
            with devtools_browser(chromium, tmp_path / "profile", 1400, 900) as port:
                layout, shot = anyio.run(first_screen, port, exporter.base + "/", LAYOUT)
    assert len(failed) > 200 and running > 100
    assert layout["attention"] < layout["firstRow"] <= layout["height"]
    assert layout["campaigns"] > layout["height"], "the campaign tables come after"
    assert set(layout["flagged"]) >= failed
    assert layout["flagged"][: len(failed)] == [c for c in layout["flagged"] if c in failed]
    assert f"{len(layout['flagged'])} need attention" in layout["title"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "status-page-trouble.png").write_bytes(shot)
