"""Loads the YAML config: ``${VAR}`` expansion, per-source schema, cross-checks.

Every problem becomes one ``key.path: problem`` line; nothing here raises anything
but ``ConfigError``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .schema import SourceConfig, Strict
from .sources import SOURCE_KINDS

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ConfigError(Exception):
    """An invalid config: one line per problem, each naming its key."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


@dataclass(frozen=True)
class Config:
    sources: tuple[SourceConfig, ...]


class _TopLevel(Strict):
    sources: list[dict[str, Any]]


def key_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _message(err: Any) -> str:
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    if kind == "value_error":
        return str(msg).removeprefix("Value error, ")
    if kind == "literal_error" and "expected" in err.get("ctx", {}):
        return f"must be {err['ctx']['expected']}"
    return str(msg)


def validation_lines(exc: ValidationError, prefix: tuple[int | str, ...]) -> list[str]:
    lines = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        lines.append(f"{key_path(prefix + loc)}: {_message(err)}")
    return lines


def expand_env(value: Any, loc: tuple[int | str, ...], errors: list[str]) -> Any:
    """``${VAR}`` in every string value; ``$$`` is a literal ``$``."""
    if isinstance(value, dict):
        return {k: expand_env(v, (*loc, str(k)), errors) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, (*loc, i), errors) for i, v in enumerate(value)]
    if not isinstance(value, str) or "$" not in value:
        return value

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "$"
        env = os.environ.get(name)
        if env is None:
            errors.append(f"{key_path(loc)}: environment variable {name} is not set")
            return ""
        return env

    return _VAR.sub(substitute, value)


def parse_config(raw: Any) -> Config:
    errors: list[str] = []
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(["(top level): must be a mapping with a sources key"])
    raw = expand_env(raw, (), errors)
    if errors:
        raise ConfigError(errors)
    try:
        top = _TopLevel.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(errors + validation_lines(exc, ())) from None
    if not top.sources:
        errors.append("sources: at least one source is required")
    sources: list[SourceConfig] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(top.sources):
        loc: tuple[int | str, ...] = ("sources", i)
        kind = SOURCE_KINDS.get(str(item.get("type")))
        if kind is None:
            known = ", ".join(sorted(SOURCE_KINDS))
            if "type" not in item:
                errors.append(f"{key_path((*loc, 'type'))}: required key is missing ({known})")
            else:
                errors.append(
                    f'{key_path((*loc, "type"))}: unknown source type "{item["type"]}" '
                    f"(expected one of {known})"
                )
            continue
        try:
            source = kind.config_model.model_validate(item)
        except ValidationError as exc:
            errors.extend(validation_lines(exc, loc))
            continue
        if source.name in seen:
            errors.append(
                f'{key_path((*loc, "name"))}: duplicate source name "{source.name}" '
                f"(also sources[{seen[source.name]}])"
            )
        seen.setdefault(source.name, i)
        for path, file in source.secret_files():
            problem = _unreadable(file)
            if problem:
                errors.append(f"{key_path(loc)}.{path}: {problem}: {file}")
        sources.append(source)
    if errors:
        raise ConfigError(errors)
    return Config(sources=tuple(sources))


def _unreadable(path: Path) -> str | None:
    if not path.exists():
        return "file not found"
    if not path.is_file():
        return "not a regular file"
    if not os.access(path, os.R_OK):
        return "file not readable"
    return None


def load_config(path: Path) -> Config:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise ConfigError([f"{path}: cannot read: {reason}"]) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError([f"{where}: YAML syntax error: {problem}"]) from None
    return parse_config(raw)


def render_config(config: Config) -> str:
    """The config as loaded, defaults filled in and secrets shown as ``<secret>``."""
    data = {"sources": [s.model_dump(mode="json", exclude_none=True) for s in config.sources]}
    return yaml.safe_dump(data, sort_keys=False)
