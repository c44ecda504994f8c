"""The simulator itself: it stands apart from the exporter it checks."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import exporter.simulator

SIMULATOR = Path(exporter.simulator.__file__).parent


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, relative imports resolved against its package."""
    package = ".".join(["exporter", *path.relative_to(SIMULATOR.parent).parent.parts])
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def test_simulator_imports_nothing_from_the_exporter() -> None:
    """A second reading of the vendors' docs may not borrow the first one's."""
    modules = sorted(SIMULATOR.rglob("*.py"))
    assert len(modules) >= 7
    borrowed = {
        f"{path.name}: {name}"
        for path in modules
        for name in imported_modules(path)
        if name.startswith("exporter.") and not name.startswith("exporter.simulator")
    }
    assert borrowed == set()


def test_simulator_serves_with_the_exporter_packages_blocked() -> None:
    """Imported in a fresh interpreter where the sources cannot load, it still starts and serves."""
    script = """
import asyncio, sys, urllib.request
for name in ("exporter.sources", "exporter.upstream", "exporter.poller", "exporter.config"):
    sys.modules[name] = None
from exporter.simulator import Simulator, SimulatorSettings

async def main():
    sim = Simulator(SimulatorSettings(experiture_campaigns=3, greenarrow_campaigns=3))
    runner, url = await sim.start()
    try:
        def get():
            req = urllib.request.Request(
                url + "/public/v1/campaigns", headers={"Authorization": "Bearer demo-token"}
            )
            return urllib.request.urlopen(req, timeout=10).status
        print(await asyncio.to_thread(get))
    finally:
        await runner.cleanup()

asyncio.run(main())
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "200"
