"""The reference docs cover what the code has: every config key, every metric family."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from exporter.schema import SourceConfig
from exporter.sources import SOURCE_KINDS
from exporter.webconfig import WebConfig

from .helpers import Samples, config_of, experiture_source, running_exporter, running_simulator

ROOT = Path(__file__).parent.parent


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


@pytest.mark.anyio
async def test_every_metric_family_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    async with running_simulator(experiture_campaigns=60, greenarrow_campaigns=60) as (_s, url):
        ga = {
            "name": "ga",
            "type": "greenarrow",
            "base_url": url,
            "lookback": "90d",
            "basic_auth": {"username": "1", "password": "demo-ga-key"},
        }
        async with running_exporter(config_of(experiture_source(url), ga)) as exp:
            await exp.wait_refreshes("ga", 1)
            samples: Samples = await exp.wait_refreshes("prod", 1)
    families = {re.sub(r"_(total|created)$", "", name) for name in samples.by_name}
    ours = {f for f in families if not f.startswith(("process_", "python_"))}
    missing = {f for f in ours if f not in readme and f + "_total" not in readme}
    assert not missing
