"""The reference docs cover what the code has, read as files: every config key in the
configuration reference and the example config, every series of the README's metric
reference marked stable or experimental, every GreenArrow stats field with its metric."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from exporter.config.schema import SourceConfig
from exporter.http.webconfig import WebConfig
from exporter.sources import SOURCE_KINDS

from ...expected import GREENARROW_STATS

ROOT = Path(__file__).parents[3]


def keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    out = set()
    for name, field in model.model_fields.items():
        out.add(prefix + name)
        inner: Any = field.annotation
        for candidate in getattr(inner, "__args__", (inner,)):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                out |= keys(candidate, f"{prefix}{name}.")
    return out


def test_every_config_key_is_in_the_configuration_reference() -> None:
    doc = (ROOT / "docs" / "configuration.md").read_text()
    documented = set(re.findall(r"`([a-z0-9_]+(?:\.[a-z0-9_]+)*)`", doc))
    documented |= {d.rsplit(".", 1)[0] for d in documented if "." in d}
    wanted = keys(SourceConfig) | keys(WebConfig)
    for kind in SOURCE_KINDS.values():
        wanted |= keys(kind.config_model)
    missing = {k for k in wanted if k not in documented and k.split(".")[-1] not in documented}
    assert not missing


def uncommented(text: str) -> str:
    """The example with its commented-out keys put back: a comment that starts with a
    lowercase key and a colon is a key, at the indentation the comment marker had."""
    return re.sub(r"^(\s*)# (\s*[a-z_][a-z0-9_]*:(?: |$))", r"\1\2", text, flags=re.MULTILINE)


def key_paths(data: dict[str, Any], prefix: str = "") -> set[str]:
    out = set()
    for key, value in data.items():
        out.add(prefix + key)
        if key == "rate_limits":  # keyed by endpoint class, each a rate limit
            for limit in value.values():
                out |= key_paths(limit, f"{prefix}{key}.")
        elif isinstance(value, dict) and key != "endpoint_params":  # its keys are the user's
            out |= key_paths(value, f"{prefix}{key}.")
    return out


def test_the_example_config_has_every_key_of_each_source_type() -> None:
    example = yaml.safe_load(uncommented((ROOT / "config.example.yaml").read_text()))
    by_type = {source["type"]: key_paths(source) for source in example["sources"]}
    assert set(by_type) == set(SOURCE_KINDS)
    for type_name, kind in SOURCE_KINDS.items():
        assert by_type[type_name] == keys(kind.config_model), type_name


EXPERIMENTAL = {
    "campaign_exporter_source_reads_total",
    "campaign_exporter_source_reads_due",
    "campaign_exporter_source_reads_oldest_wait_seconds",
    "campaign_exporter_source_running_state_age_seconds",
    "campaign_exporter_source_campaigns_unread",
    "campaign_exporter_storage_writable",
    "campaign_exporter_storage_errors_total",
    "campaign_exporter_total_shards",
    "campaign_exporter_config_info",
    "campaign_exporter_start_timestamp_seconds",
}

MEANING_CHANGED = {
    "campaign_exporter_source_up",
    "campaign_exporter_source_last_success_timestamp_seconds",
    "campaign_exporter_source_refresh_duration_seconds",
    "campaign_exporter_source_refreshes_total",
    "campaign_exporter_source_consecutive_failures",
    "campaign_exporter_source_campaigns_unrefreshed",
}

CHANGED_MARK = "stable, meaning changed ([CHANGELOG](CHANGELOG.md#changed))"


def section_of(text: str, heading: str) -> str:
    start = text.index(f"\n{heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_every_series_of_the_metric_reference_is_marked_stable_or_experimental() -> None:
    reference = section_of((ROOT / "README.md").read_text(), "## Metric reference")
    tables = re.findall(r"^(\| metric \|.*\n)\|[-|]+\|\n((?:\|.*\n)+)", reference, re.M)
    assert len(tables) == 3  # Experiture, GreenArrow, the exporter itself
    assert reference.index("**experimental**") < reference.index("| metric |")
    marks: dict[str, str] = {}
    for header, body in tables:
        columns = [c.strip() for c in header.strip().strip("|").split("|")]
        assert columns[-1] == "stability", columns
        for line in body.splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            assert len(cells) == len(columns), line
            name = re.match(r"`([^`]+)`", cells[0])
            assert name is not None, line
            marks[name[1]] = cells[-1]
    assert set(marks.values()) == {"stable", "experimental", CHANGED_MARK}
    assert {n for n, mark in marks.items() if mark == "experimental"} == EXPERIMENTAL
    assert {n for n, mark in marks.items() if mark == CHANGED_MARK} == MEANING_CHANGED
    # each "meaning changed" is one of the CHANGELOG's Changed entries, in full or as the
    # `_suffix` of a family named before it on the line
    unreleased = section_of((ROOT / "CHANGELOG.md").read_text(), "## [Unreleased]")
    changed = unreleased[unreleased.index("\n### Changed\n") :]
    changed = changed[: changed.index("\n### ", 1)]
    named = set(re.findall(r"`(campaign_exporter_[a-z_]+|_[a-z_]+)`", changed))
    for family in MEANING_CHANGED:
        assert any(family == n or family.endswith(n) for n in named), family


def test_every_documented_stats_field_has_its_metric_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    for (group, field), (name, kind, extra) in GREENARROW_STATS.items():
        row = next(line for line in readme.splitlines() if line.startswith(f"| `{name}` |"))
        assert f"| {kind} |" in row and f"`{group}.{field}`" in row, (group, field)
        assert extra is None or extra[0] in row
