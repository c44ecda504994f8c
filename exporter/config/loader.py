"""Loads the source config: the bounded YAML, ``${VAR}`` expansion, each source's schema by
its type, cross-checks (duplicate names, credential files, TLS and proxy material); and
renders it back (``--config.print``) in a form that loads to the same config.

Every problem becomes one ``key.path: problem`` line; nothing here raises anything
but ``ConfigError``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from ..sources import SOURCE_KINDS
from .egress import egress_problems
from .env import expand_env
from .errors import ConfigError, Hint, key_path, model_in, unknown_key_hint, validation_lines
from .schema import AlertThresholds, SourceConfig, TlsConfig
from .secrets import check_secret_file
from .thresholds import DEFAULTS, Thresholds
from .types import Strict
from .yamlfile import read_yaml


@dataclass(frozen=True)
class Config:
    sources: tuple[SourceConfig, ...]
    thresholds: Thresholds = DEFAULTS


class _TopLevel(Strict):
    sources: list[dict[str, Any]]
    thresholds: AlertThresholds = AlertThresholds()


def _about(line: str, paths: set[str]) -> bool:
    """Whether ``line`` is about one of ``paths`` or a key inside one."""
    key = line.partition(": ")[0]
    return any(key == p or key.startswith((f"{p}.", f"{p}[")) for p in paths)


def _secret_files_in(
    model: type[BaseModel], raw: Any, loc: tuple[int | str, ...]
) -> list[tuple[tuple[int | str, ...], str]]:
    """The ``*_file`` credential paths in a source's YAML that failed validation, under
    keys its model has: checked all the same, so that one run tells every problem."""
    found: list[tuple[tuple[int | str, ...], str]] = []
    if not isinstance(raw, dict):
        return found
    for key, value in raw.items():
        field = model.model_fields.get(key) if isinstance(key, str) else None
        inner = model_in(field.annotation) if field is not None else None
        if field is None or inner is TlsConfig:  # PEM files: checked as TLS material
            continue
        if inner is not None:
            found += _secret_files_in(inner, value, (*loc, key))
        elif key.endswith("_file") and isinstance(value, str) and value:
            found.append(((*loc, key), value))
    return found


def _source_key_hint(model: type[BaseModel], type_name: str) -> Hint:
    """What an unknown key of a source was probably meant to be: a key of another source
    type (at a source's top level), or a near miss of a key its model has."""
    near_miss = unknown_key_hint(model)

    def hint(loc: tuple[Any, ...]) -> str:
        key = str(loc[-1])
        if len(loc) == 1:
            others = sorted(
                kind.type_name
                for kind in SOURCE_KINDS.values()
                if kind.type_name != type_name and key in kind.config_model.model_fields
            )
            if others:
                return f": only valid for type {' or '.join(others)}"
        return near_miss(loc)

    return hint


def _source_problems(
    item: dict[str, Any], loc: tuple[int | str, ...]
) -> tuple[SourceConfig | None, list[str]]:
    """One source's config, or None, and every problem found in it: the schema's, and
    those of its credential files and TLS material."""
    kind = SOURCE_KINDS.get(str(item.get("type")))
    if kind is None:
        known = ", ".join(sorted(SOURCE_KINDS))
        if "type" not in item:
            return None, [f"{key_path((*loc, 'type'))}: required key is missing ({known})"]
        return None, [
            f'{key_path((*loc, "type"))}: unknown source type "{item["type"]}" '
            f"(expected one of {known})"
        ]
    try:
        source = kind.config_model.model_validate(item)
    except ValidationError as exc:
        hint = _source_key_hint(kind.config_model, kind.type_name)
        lines = validation_lines(exc, loc, hint)
        refused = {line.partition(": ")[0] for line in lines}
        for file_loc, file in _secret_files_in(kind.config_model, item, loc):
            problem = check_secret_file(Path(file))
            if problem and key_path(file_loc) not in refused:
                lines.append(f"{key_path(file_loc)}: {problem}: {file}")
        return None, lines
    lines = []
    for path, secret_file in source.secret_files():
        problem = check_secret_file(secret_file)
        if problem:
            lines.append(f"{key_path(loc)}.{path}: {problem}: {secret_file}")
    lines += [f"{key_path(loc)}.{problem}" for problem in egress_problems(source)]
    return source, lines


def parse_config(raw: Any) -> Config:
    """The config in ``raw`` (the YAML as loaded), or a ``ConfigError`` with every problem
    found: a value whose ``${VAR}`` cannot be expanded is reported, and so is everything
    else, but for what follows from that value being left empty."""
    errors: list[str] = []
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(["(top level): must be a mapping with a sources key"])
    raw = expand_env(raw, (), errors)
    unexpanded = {line.partition(": ")[0] for line in errors}
    try:
        top = _TopLevel.model_validate(raw)
    except ValidationError as exc:
        lines = validation_lines(exc, (), unknown_key_hint(_TopLevel))
        raise ConfigError(errors + [x for x in lines if not _about(x, unexpanded)]) from None
    found: list[str] = []
    if not top.sources:
        found.append("sources: at least one source is required")
    sources: list[SourceConfig] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(top.sources):
        loc: tuple[int | str, ...] = ("sources", i)
        source, problems = _source_problems(item, loc)
        found += problems
        if source is None:
            continue
        if source.name in seen:
            found.append(
                f'{key_path((*loc, "name"))}: duplicate source name "{source.name}" '
                f"(also sources[{seen[source.name]}])"
            )
        seen.setdefault(source.name, i)
        sources.append(source)
    errors += [line for line in found if not _about(line, unexpanded)]
    if errors:
        raise ConfigError(errors)
    return Config(sources=tuple(sources), thresholds=top.thresholds.in_force())


def load_config(path: Path) -> Config:
    """The config in ``path``; any failure at all is a ``ConfigError``, never a crash."""
    try:
        return parse_config(read_yaml(path))
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - a reload must survive whatever the file does
        # Only the type: an unexpected exception's text may quote the file, secrets included.
        raise ConfigError([f"cannot load: unexpected {type(exc).__name__}"]) from None


def render_config(config: Config) -> str:
    """The config as loaded, defaults filled in and secrets shown as ``<secret>``.

    The output loads back to the same config once the secrets are put back: a ``null``
    that differs from its default is kept, and ``$`` is written as ``$$``.
    """
    data: dict[str, Any] = {"sources": [_escape_dollars(_dump(s)) for s in config.sources]}
    if config.thresholds != DEFAULTS:  # a config that sets none prints as before there were any
        thresholds = AlertThresholds(**dataclasses.asdict(config.thresholds))
        data["thresholds"] = thresholds.model_dump(mode="json")
    return yaml.safe_dump(data, sort_keys=False)


def _dump(model: BaseModel) -> dict[str, Any]:
    """``model_dump`` without the ``None`` values that are their field's default anyway."""
    out = model.model_dump(mode="json")
    for key, info in type(model).model_fields.items():
        value = getattr(model, key)
        if value is None and info.default is None:
            del out[key]
        elif isinstance(value, BaseModel):
            out[key] = _dump(value)
    return out


def _escape_dollars(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _escape_dollars(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escape_dollars(v) for v in value]
    return value.replace("$", "$$") if isinstance(value, str) else value
