"""The dashboards: what the code makes is what is committed, and every panel keeps the rules."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).parent.parent
BOARDS = ROOT / "grafana" / "dashboards"


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dashboards", ROOT / "grafana" / "dashboards.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def boards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted(BOARDS.glob("*.json"))}


def test_committed_json_is_what_the_code_makes() -> None:
    gen = generator()
    assert set(gen.DASHBOARDS) == set(boards())
    for name, build in gen.DASHBOARDS.items():
        assert (BOARDS / name).read_text() == gen.render(build), (
            f"{name} is stale: run python grafana/dashboards.py"
        )


@pytest.mark.parametrize("name", sorted(boards()))
def test_dashboard_rules(name: str) -> None:
    board = boards()[name]
    assert re.fullmatch(r"[a-z0-9-]{1,40}", board["uid"])
    assert board["editable"] is False
    names = {v["name"]: v for v in board["templating"]["list"]}
    assert names["datasource"]["type"] == "datasource"
    assert {"job", "instance"} <= set(names)
    assert board["panels"]
    for panel in board["panels"]:
        where = f"{name}: {panel['title']}"
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, where
        assert panel["description"].strip(), where
        assert panel["fieldConfig"]["defaults"]["unit"], where
        assert panel["targets"], where
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", where
            for window in re.findall(r"\[([^\]]+)\]", target["expr"]):
                assert window == "$__rate_interval", f"{where}: [{window}]"


def test_uids_are_unique() -> None:
    uids = [b["uid"] for b in boards().values()]
    assert len(uids) == len(set(uids))
