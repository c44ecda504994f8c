"""A source's ``metrics:`` block through --config.check: an unknown family name is one line
naming the key and near names; include with exclude, or an unknown mode, is refused."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from ..helpers import COMMAND, DEADLINE, experiture_source, ga_source, write_config


def check(tmp_path: Path, metrics: dict[str, Any], kind: str = "greenarrow") -> list[str]:
    """``--config.check`` of one source with this ``metrics:`` block: its error lines."""
    source = ga_source("http://ga.example") if kind == "greenarrow" else experiture_source("")
    if kind != "greenarrow":
        source["base_url"] = "http://exp.example/public/v1"
    path = write_config(tmp_path, {"sources": [{**source, "metrics": metrics}]})
    done = subprocess.run(
        [COMMAND, "--config.check", f"--config.file={path}"],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )
    assert done.returncode == 1
    prefix = f"campaign-exporter: {path}: "
    assert all(line.startswith(prefix) for line in done.stderr.splitlines()), done.stderr
    return [line.removeprefix(prefix) for line in done.stderr.splitlines()]


def test_an_unknown_family_is_one_line_naming_the_key_and_near_names(tmp_path: Path) -> None:
    lines = check(
        tmp_path,
        {"exclude": ["greenarrow_campaign_opens_total", "greenarrow_campaign_unique_open_total"]},
    )
    assert lines == [
        'sources[0].metrics.exclude[1]: unknown metric family "greenarrow_campaign_unique_open_'
        'total" for type greenarrow (did you mean greenarrow_campaign_unique_opens_total, '
        "greenarrow_campaign_unique_bounces_total, greenarrow_campaign_unique_complaints_total?)"
    ]
    assert check(tmp_path, {"include": ["unique_clicks"]}) == [
        'sources[0].metrics.include[0]: unknown metric family "unique_clicks" for type '
        "greenarrow (did you mean greenarrow_campaign_unique_clicks_total?)"
    ]
    # a family of another type, or a renamed one, is unknown too
    assert check(tmp_path, {"include": ["greenarrow_campaign_state"]}, "experiture") == [
        'sources[0].metrics.include[0]: unknown metric family "greenarrow_campaign_state" for '
        "type experiture (see the README's metric reference for the families)"
    ]


def test_include_and_exclude_together_or_an_unknown_mode_are_refused(tmp_path: Path) -> None:
    both = {"include": ["greenarrow_campaign_state"], "exclude": ["greenarrow_campaign_paused"]}
    assert check(tmp_path, both) == ["sources[0].metrics: set only one of include and exclude"]
    assert check(tmp_path, {"state_sets": "dense"}) == [
        "sources[0].metrics.state_sets: must be 'full' or 'sparse'"
    ]
