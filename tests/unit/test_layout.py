"""The layout holds by construction: no import cycle in the package, and no vendor logic
outside its own source package."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from exporter.sources import SOURCE_KINDS

PACKAGE = Path(__file__).resolve().parents[2] / "exporter"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> set[str]:
    """Every exporter module ``path`` imports, TYPE_CHECKING blocks included."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("exporter"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module and node.module.startswith("exporter"):
                target = node.module
            else:
                continue
            found.add(target)
            # "from . import x" names a module too
            found.update(f"{target}.{a.name}" for a in node.names)
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: imports(path) & set(modules) - {name} for name, path in modules.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_in_the_package() -> None:
    edges = graph()
    # a package's __init__ importing its own modules is how packages work, not a cycle
    for name in edges:
        edges[name] = {t for t in edges[name] if not name.startswith(t + ".")}
    assert find_cycle(edges) is None


VENDOR = re.compile("|".join(sorted(SOURCE_KINDS)), re.IGNORECASE)
# The demo wires the simulator's two vendors to their two sources, and the registry has
# its one line per kind: naming them is their job.
MAY_NAME_VENDORS = {"exporter/cli/demo.py", "exporter/sources/__init__.py"}


def test_vendor_names_appear_only_in_their_own_packages() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).as_posix()
        if rel.startswith(("exporter/sources/", "exporter/simulator/")) and rel.count("/") > 2:
            continue  # inside a vendor's own package
        if rel in MAY_NAME_VENDORS or rel.startswith("exporter/simulator/"):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if VENDOR.search(line):
                offenders.append(f"{rel}:{number}: {line.strip()}")
    assert not offenders


# What each stage may import: data flows config -> sources -> upstream client -> books ->
# exposition -> HTTP, but imports point at the types a stage uses, so sources import the
# books' Book and Read, and the HTTP side each source kind's Display. "exporter" is the
# top package itself (__version__).
ALLOWED: dict[str, set[str]] = {
    "exporter": set(),
    "exporter.__main__": {"exporter.cli"},
    "exporter.build": {"exporter"},
    "exporter.clock": set(),
    "exporter.simulator": set(),  # a second reading of the vendors' docs: imports nothing
    "exporter.config": {"exporter.clock"},
    "exporter.exposition": set(),
    "exporter.books": {"exporter.clock", "exporter.config"},
    "exporter.telemetry": {"exporter", "exporter.clock", "exporter.books", "exporter.exposition"},
    "exporter.upstream": {
        "exporter.clock",
        "exporter.config",
        "exporter.books",
        "exporter.telemetry",
    },
    "exporter.sources": {
        "exporter.config",
        "exporter.books",
        "exporter.exposition",
        "exporter.upstream",
        "exporter.telemetry",
    },
    "exporter.http": {
        "exporter",
        "exporter.clock",
        "exporter.config",
        "exporter.exposition",
        "exporter.telemetry",
        "exporter.sources",
    },
    "exporter.run": {
        "exporter.clock",
        "exporter.config",
        "exporter.books",
        "exporter.exposition",
        "exporter.telemetry",
        "exporter.upstream",
        "exporter.sources",
        "exporter.http",
    },
    "exporter.cli": {
        "exporter",
        "exporter.build",
        "exporter.config",
        "exporter.books",
        "exporter.http",
        "exporter.run",
        "exporter.simulator",
    },
}
# Imports against that graph, each to be removed by giving the thing imported its right
# place; none is ever added.
BACK_EDGES: set[tuple[str, str]] = {
    ("exporter.config.loader", "exporter.sources"),  # each kind's schema: passed in instead
}


def stage(module: str) -> str:
    """The stage a module belongs to: its package under exporter, or a top module."""
    return ".".join(module.split(".")[:2])


def test_every_stage_imports_only_what_the_graph_allows() -> None:
    edges = graph()
    unknown = {stage(m) for m in edges} - ALLOWED.keys()
    assert not unknown, f"a stage the graph does not name: {sorted(unknown)}"
    wrong, back = [], set()
    for module, targets in edges.items():
        for target in targets:
            # a package importing a parent package's __init__ (e.g. __version__) is "exporter"
            if stage(target) == stage(module):
                continue
            if (module, target) in BACK_EDGES:
                back.add((module, target))
            elif stage(target) not in ALLOWED[stage(module)]:
                wrong.append(f"{module} -> {target}")
    assert not wrong, "imports the graph does not allow:\n" + "\n".join(sorted(wrong))
    assert back == BACK_EDGES, f"back edges gone (remove them from BACK_EDGES): {BACK_EDGES - back}"


def test_the_allowed_graph_has_no_cycle() -> None:
    assert find_cycle({s: {t for t in allowed if t != s} for s, allowed in ALLOWED.items()}) is None


def test_few_modules_at_the_top_of_the_package() -> None:
    top = sorted(p.stem for p in PACKAGE.glob("*.py"))
    assert len(top) <= 6, top
