"""``ConfigError`` and the wording of a validation problem: each pydantic error becomes one
``key.path: problem`` line in our words, a credential's value never quoted. The source
config and the web config (``exporter.http.webconfig``) both report through it."""

from __future__ import annotations

from collections.abc import Callable
from difflib import get_close_matches
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from .types import SECRET_KEYS, quote_hint


class ConfigError(Exception):
    """An invalid config: one line per problem, each naming its key or place in the file.

    The lines do not name the file: whoever reports them does.
    """

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


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
        inner = model_in(field.annotation) if field is not None else None
        if inner is None:
            return None
        model = inner
    return model


def model_in(annotation: Any) -> type[BaseModel] | None:
    """The model a field's annotation holds, if any (``X | None``, ``list[X]``: ``X``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = model_in(arg)
        if found is not None:
            return found
    return None


def unknown_key_hint(model: type[BaseModel]) -> Hint:
    """What an unknown key was probably meant to be: a near miss of a key the model has."""

    def hint(loc: tuple[Any, ...]) -> str:
        key = str(loc[-1])
        holder = _model_at(model, loc)
        close = get_close_matches(key, list(holder.model_fields), n=1) if holder else []
        return f" (did you mean {close[0]}?)" if close else ""

    return hint
