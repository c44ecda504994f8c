"""The simulator stands apart from the exporter it checks (it imports nothing of it), and
refuses a preset it does not know."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import exporter.simulator
from exporter.simulator import SimulatorSettings

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


def test_an_unknown_preset_is_refused() -> None:
    with pytest.raises(ValueError, match='unknown preset "old": expected one of long-used'):
        SimulatorSettings(preset="old")
