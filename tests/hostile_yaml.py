"""Config files built to hurt a YAML loader, each small on disk."""

from __future__ import annotations


def deep_nesting() -> str:
    """PyYAML's composer recursed on this until RecursionError."""
    return "sources: " + "[" * 5000 + "]" * 5000 + "\n"


def billion_laughs() -> str:
    """354 bytes; 9**9 strings once the aliases are expanded."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [{','.join([f'*{prev}'] * 9)}]")
    return "\n".join([*lines, "sources: *i"]) + "\n"


def alias_chain(levels: int) -> str:
    """Each alias one level deeper than the last: shallow on the page, deep expanded."""
    lines = ["l0: &l0 [x]"] + [f"l{i}: &l{i} [*l{i - 1}]" for i in range(1, levels + 1)]
    return "\n".join([*lines, f"sources: *l{levels}"]) + "\n"
