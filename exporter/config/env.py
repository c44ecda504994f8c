"""``${VAR}`` expansion: every string value of the loaded YAML, with ``$$`` for a literal
``$``; what cannot be expanded is one problem line, a credential's value never quoted."""

from __future__ import annotations

import os
import re
from typing import Any

from .errors import key_path
from .types import SECRET_KEYS

# "$$", "${...}" (closed or not), or "$NAME"; a lone "$" matches with every group empty
_VAR = re.compile(r"\$(?:(\$)|\{([^}]*)(\})?|([A-Za-z_][A-Za-z0-9_]*))?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


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
