"""Loads the YAML config: size, nesting and alias limits, ``${VAR}`` expansion, per-source
schema, cross-checks.

Every problem becomes one ``key.path: problem`` line; nothing here raises anything
but ``ConfigError``.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from difflib import get_close_matches
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError

from ..sources import SOURCE_KINDS
from ..upstream.egress import egress_problems
from .localfile import FileRefused, read_local_file
from .schema import SECRET_KEYS, AlertThresholds, SourceConfig, Strict, TlsConfig, quote_hint
from .secrets import check_secret_file
from .thresholds import DEFAULTS, Thresholds

# "$$", "${...}" (closed or not), or "$NAME"; a lone "$" matches with every group empty
_VAR = re.compile(r"\$(?:(\$)|\{([^}]*)(\})?|([A-Za-z_][A-Za-z0-9_]*))?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class ConfigError(Exception):
    """An invalid config: one line per problem, each naming its key or place in the file.

    The lines do not name the file: whoever reports them does.
    """

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


@dataclass(frozen=True)
class Config:
    sources: tuple[SourceConfig, ...]
    thresholds: Thresholds = DEFAULTS


class _TopLevel(Strict):
    sources: list[dict[str, Any]]
    thresholds: AlertThresholds = AlertThresholds()


def key_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


# pydantic's error types, in our words: what was expected
_EXPECTED = {
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "a mapping of keys to values",
    "model_type": "a mapping of keys to values",
    "model_attributes_type": "a mapping of keys to values",
    "path_type": "a file path",
}
_LIMITS = {
    "greater_than_equal": ("ge", "must be at least"),
    "less_than_equal": ("le", "must be at most"),
    "greater_than": ("gt", "must be greater than"),
    "less_than": ("lt", "must be less than"),
}
Hint = Callable[[tuple[Any, ...]], str]


_HIDDEN = object()  # the input of an error under a credential's key: never quoted


def _shown(value: Any) -> str:
    """A value as the YAML had it, briefly, for "expected X, got Y"."""
    if value is _HIDDEN:
        return "a value not shown (a credential)"
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return f'"{value[:40]}…"' if len(value) > 40 else f'"{value}"'
    return "a list" if isinstance(value, list) else "a mapping"


def _message(err: Any, hint: Hint | None = None) -> str:
    """One pydantic error in our words: its own wording never reaches a user."""
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == "extra_forbidden":
        return "unknown key" + (hint(err["loc"]) if hint else "")
    if kind == "missing":
        return "required key is missing"
    if kind == "value_error":
        return str(err["msg"]).removeprefix("Value error, ")
    if kind == "literal_error" and "expected" in ctx:
        return f"must be {ctx['expected']}"
    if kind in _LIMITS:
        bound, words = _LIMITS[kind]
        return f"{words} {ctx[bound]:g}, got {_shown(err['input'])}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {_shown(err['input'])}"
    return "invalid value"


def validation_lines(
    exc: ValidationError, prefix: tuple[int | str, ...], hint: Hint | None = None
) -> list[str]:
    """One line per error; ``hint(loc)`` follows "unknown key", e.g. " (did you mean x?)"."""
    lines = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        given = err.get("input")
        shown = _HIDDEN if any(part in SECRET_KEYS for part in loc) else given
        message = _message({**err, "loc": loc, "input": shown}, hint)
        if err["type"] == "string_type":
            message += quote_hint(given)
        lines.append(f"{key_path(prefix + loc)}: {message}")
    return lines


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model holding the key at ``loc`` (list indexes passed over)."""
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        inner = _model_in(field.annotation) if field is not None else None
        if inner is None:
            return None
        model = inner
    return model


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def unknown_key_hint(model: type[BaseModel], type_name: str | None = None) -> Hint:
    """What an unknown key was probably meant to be: a key of another source type (at a
    source's top level), or a near miss of a key the model has."""

    def hint(loc: tuple[Any, ...]) -> str:
        key = str(loc[-1])
        if type_name is not None and len(loc) == 1:
            others = sorted(
                kind.type_name
                for kind in SOURCE_KINDS.values()
                if kind.type_name != type_name and key in kind.config_model.model_fields
            )
            if others:
                return f": only valid for type {' or '.join(others)}"
        holder = _model_at(model, loc)
        close = get_close_matches(key, list(holder.model_fields), n=1) if holder else []
        return f" (did you mean {close[0]}?)" if close else ""

    return hint


def expand_env(value: Any, loc: tuple[int | str, ...], errors: list[str]) -> Any:
    """``${VAR}`` in every string value; ``$$`` is a literal ``$``; a ``$`` before a
    name without braces, and ``${`` without its ``}``, are refused, not sent as they are."""
    if isinstance(value, dict):
        return {k: expand_env(v, (*loc, str(k)), errors) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, (*loc, i), errors) for i, v in enumerate(value)]
    if not isinstance(value, str) or "$" not in value:
        return value
    problems: list[str] = []
    # a credential's value is never quoted, unless it is nothing but "$NAME"
    secret = any(part in SECRET_KEYS for part in loc)  # a header under proxy_connect_header

    def substitute(match: re.Match[str]) -> str:
        dollar, braced, closed, bare = match.groups()
        if dollar:
            return "$"
        if braced is not None:
            if not closed:
                problems.append('"${" has no closing "}": write ${NAME}')
            elif not _NAME.fullmatch(braced):
                shown = "a ${...}" if secret else f'"${{{braced}}}"'
                problems.append(
                    f"{shown} holds no variable name (letters, digits and _, not first a digit)"
                )
            elif (env := os.environ.get(braced)) is not None:
                return env
            else:
                problems.append(f"environment variable {braced} is not set")
            return ""
        if bare:
            if secret and match.group() != value:
                problems.append(
                    'a "$" before a name is not expanded: write ${NAME} for an environment '
                    "variable, $$ for a literal $"
                )
            else:
                problems.append(
                    f'"${bare}" is not expanded: write ${{{bare}}} for an environment '
                    f"variable, $${bare} for a literal ${bare}"
                )
            return ""
        return "$"  # a "$" before nothing that could be a name: only itself

    expanded = _VAR.sub(substitute, value)
    if problems:
        errors.append(f"{key_path(loc)}: {problems[0]}")
    return expanded


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
        inner = _model_in(field.annotation) if field is not None else None
        if field is None or inner is TlsConfig:  # PEM files: checked as TLS material
            continue
        if inner is not None:
            found += _secret_files_in(inner, value, (*loc, key))
        elif key.endswith("_file") and isinstance(value, str) and value:
            found.append(((*loc, key), value))
    return found


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
        hint = unknown_key_hint(kind.config_model, kind.type_name)
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


# Limits on what a config file may make us build. A real config is a few KiB: a few
# hundred sources with campaign lists stay under 100 KiB and 10,000 values.
# 1 MiB of text, comments included, is ten times that.
MAX_CONFIG_BYTES = 1 << 20
# Loading costs about 700 bytes and 25 us a value (PyYAML keeps a node with two position
# marks for each): an alias-free MiB of "[a,a,a,...]", half a million values, peaked at
# 400 MB RSS after 11 s; 100,000 peak at 130 MB (50 MB idle) after 3 s. The same cap
# applies once aliases are expanded, which stops the billion laughs.
MAX_VALUES = 100_000
# The schema is five levels deep; deeper input is an attack or an accident, and PyYAML's
# recursive composer would otherwise run out of stack.
MAX_DEPTH = 64


class _Refused(Exception):
    def __init__(self, problem: str, mark: yaml.Mark | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.mark = mark


class BoundedLoader(yaml.SafeLoader):
    """SafeLoader that stops composing at MAX_DEPTH or MAX_VALUES nodes, before the
    stack or memory runs out. Every YAML file the exporter reads goes through it (the web
    config through a subclass with Go's rules for scalars and repeated keys)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0
        self.nodes = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self.depth += 1
        self.nodes += 1
        try:
            if self.nodes > MAX_VALUES:
                raise _Refused(f"more than {MAX_VALUES} values")
            if self.depth > MAX_DEPTH:
                raise _Refused(
                    f"nested deeper than {MAX_DEPTH} levels",
                    self.peek_event().start_mark,  # type: ignore[no-untyped-call]
                )
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _measure(node: yaml.Node, depth: int, seen: dict[int, tuple[int, int]], open_: set[int]) -> int:
    """Values under ``node`` with every alias expanded, counted without expanding them.

    An alias is the same node object met again, so ``seen`` (id -> values, height) makes
    this linear in the file, however much the aliases multiply.
    """
    key = id(node)
    if key in seen:
        values, height = seen[key]
        if depth + height - 1 > MAX_DEPTH:
            raise _Refused(f"YAML aliases nest deeper than {MAX_DEPTH} levels")
        return values
    if key in open_:
        raise _Refused("a YAML alias refers to a node that contains it", node.start_mark)
    if depth > MAX_DEPTH:
        raise _Refused(f"YAML aliases nest deeper than {MAX_DEPTH} levels")
    children: list[yaml.Node] = []
    if isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    elif isinstance(node, yaml.MappingNode):
        children = [n for pair in node.value for n in pair]
    open_.add(key)
    values, height = 1, 0
    for child in children:
        values += _measure(child, depth + 1, seen, open_)
        if values > MAX_VALUES:
            raise _Refused(f"YAML aliases expand to more than {MAX_VALUES} values")
        height = max(height, seen[id(child)][1])
    open_.discard(key)
    seen[key] = (values, height + 1)
    return values


def read_yaml(path: Path, loader: type[BoundedLoader] = BoundedLoader) -> Any:
    """The YAML document in ``path``, a regular file within the size, depth and alias
    limits above.

    Raises only ``ConfigError``, with one line: the problem and where in the file.
    """
    try:
        text = read_local_file(path, MAX_CONFIG_BYTES).data.decode("utf-8")
    except FileRefused as exc:
        raise ConfigError([str(exc)]) from None
    except UnicodeDecodeError:
        raise ConfigError(["not UTF-8 text"]) from None
    return parse_yaml(text, loader)


def parse_yaml(text: str, loader: type[BoundedLoader] = BoundedLoader) -> Any:
    """``read_yaml`` for text already read."""
    reader = loader(text)
    try:
        node = reader.get_single_node()
        if node is None:
            return None
        _measure(node, 1, {}, set())
        return reader.construct_document(node)
    except _Refused as exc:
        raise ConfigError([f"{_where(exc.mark)}{exc.problem}"]) from None
    except yaml.constructor.ConstructorError as exc:  # a tag or key the loader refuses
        problem = exc.problem or "invalid YAML"
        raise ConfigError([f"{_where(exc.problem_mark)}{problem}"]) from None
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or "invalid YAML"
        where = _where(getattr(exc, "problem_mark", None))
        raise ConfigError([f"{where}YAML syntax error: {problem}"]) from None
    finally:
        reader.dispose()


def _where(mark: yaml.Mark | None) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""


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
