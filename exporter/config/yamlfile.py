"""The bounded YAML reader every YAML file of the exporter goes through: a regular file of
at most ``MAX_CONFIG_BYTES``, composed to at most ``MAX_DEPTH`` levels and ``MAX_VALUES``
values, aliases counted as expanded; any problem is a one-line ``ConfigError``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError
from .localfile import FileRefused, read_local_file

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
