"""The command's flags, once: parsing, and ``--help`` in Prometheus' layout (each flag with
its default, ``--web.listen-address=":10123"``), which the README's table is checked
against."""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from .logs import LEVELS

PROG = "campaign-exporter"
HELP_COLUMN = 33  # where help text starts, as in Prometheus' --help
WIDTH = 100


class UsageError(Exception):
    """A command line that cannot be run; the message is one line."""


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected a whole number, got "{text}"') from None


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected a number, got "{text}"') from None


def _duration(text: str) -> float:
    from ..config.types import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f'{exc}, got "{text}"') from None


def _one_of(choices: tuple[str, ...]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in choices:
            raise argparse.ArgumentTypeError(f'"{text}" is not one of {", ".join(choices)}')
        return text

    return parse


@dataclass(frozen=True)
class Flag:
    name: str  # "--config.file"
    help: str
    default: Any = None  # None: no default (or a switch)
    parse: Callable[[str], Any] | None = str  # None: a switch, taking no value
    choices: tuple[str, ...] = ()
    repeatable: bool = False  # given more than once, every value counts (a list)

    @property
    def dest(self) -> str:
        return self.name[2:].replace(".", "_").replace("-", "_")

    @property
    def shown_default(self) -> str:
        """The default as --help writes it: strings quoted, numbers and choices bare."""
        if self.parse is None:
            return ""
        if self.default is None:
            return '""'
        if self.choices or self.parse in (_whole, _number):
            return f"{self.default:g}" if isinstance(self.default, float) else str(self.default)
        return f'"{self.default}"'


FLAGS: tuple[Flag, ...] = (
    Flag(
        "--config.file",
        "The config file (YAML); every key is in config.example.yaml.",
        Path("campaign-exporter.yml"),
        Path,
    ),
    Flag(
        "--config.check",
        "Check the config file (and --web.config.file) and exit: 0 when valid.",
        parse=None,
    ),
    Flag(
        "--config.print",
        "Print the config as loaded, defaults filled in and secrets hidden, and exit.",
        parse=None,
    ),
    Flag(
        "--config.auto-reload-interval",
        "How often to look whether the config file changed (a Kubernetes ConfigMap "
        "mounted as a directory included); a change is reloaded once it has settled for "
        "1s. 0s: reload only on SIGHUP or POST /-/reload.",
        "1s",
        _duration,
    ),
    Flag(
        "--web.listen-address",
        "Where to serve /metrics, the status page and the health endpoints; "
        '":PORT" is every interface. Repeatable, to serve on several addresses.',
        ":10123",
        repeatable=True,
    ),
    Flag(
        "--web.systemd-socket",
        "Serve on the listening sockets systemd passes (socket activation) instead of "
        "--web.listen-address.",
        parse=None,
    ),
    Flag("--web.telemetry-path", "The path of the metrics.", "/metrics"),
    Flag(
        "--web.disable-exporter-metrics",
        "Leave out the metrics about the exporter process (process_*, python_gc_*).",
        parse=None,
    ),
    Flag(
        "--web.config.file",
        "TLS, client certificates, basic auth, headers and a rate limit, in the "
        "exporter-toolkit format; read again when it or a file it names changes.",
        parse=Path,
    ),
    Flag(
        "--web.max-requests",
        "Most /metrics requests served at once; more get 503. 0: no limit.",
        40,
        _whole,
    ),
    Flag(
        "--web.max-connections",
        "Most open HTTP connections; past it the oldest one not being served is closed. "
        "0: no limit; never more than half the open-files limit less 100.",
        512,
        _whole,
    ),
    Flag(
        "--storage.path",
        "Keep the books (every campaign's last good values and what the exporter learned) "
        "in a SQLite file in this directory, so that a restart serves them at once. Off "
        "when empty.",
        "",
    ),
    Flag(
        "--storage.max-age",
        "Restore nothing read longer ago than this at start (default: each source's retention).",
        None,
        _duration,
    ),
    Flag("--log.level", "Log at this level and above.", "info", choices=tuple(LEVELS)),
    Flag("--log.format", "How log lines are written.", "logfmt", choices=("logfmt", "json")),
    Flag(
        "--shard",
        "This replica's share of the campaigns, 0 to --total-shards minus 1.",
        0,
        _whole,
    ),
    Flag(
        "--total-shards",
        "How many replicas split the campaigns between them.",
        1,
        _whole,
    ),
    Flag(
        "--demo",
        "Run against the built-in simulator of both APIs instead of a config: no account needed.",
        parse=None,
    ),
    Flag("--demo.campaigns", "Simulated campaigns per API, with --demo.", 300, _whole),
    Flag(
        "--demo.speed",
        "How much faster than real time the campaigns of --demo move.",
        60.0,
        _number,
    ),
    Flag(
        "--healthcheck",
        "Ask a running exporter's /-/healthy and exit 0 when it answers (for a container's "
        "HEALTHCHECK). It follows --web.listen-address and --web.config.file (TLS, basic "
        "auth) as given, or else those of the container's main process.",
        parse=None,
    ),
    Flag("--version", "Show the version, revision and build date, and exit.", parse=None),
)
BY_NAME = {flag.name: flag for flag in FLAGS}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message.removeprefix("argument "))


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, add_help=False, allow_abbrev=False)
    parser.add_argument("-h", "--help", action="store_true", default=None)
    for flag in FLAGS:
        if flag.parse is None:
            parser.add_argument(flag.name, dest=flag.dest, action="store_true", default=None)
        else:
            parser.add_argument(
                flag.name,
                dest=flag.dest,
                type=_one_of(flag.choices) if flag.choices else flag.parse,
                default=None,
                action="append" if flag.repeatable else "store",
                metavar="",
            )
    return parser


def parse_flags(argv: Sequence[str]) -> tuple[argparse.Namespace, frozenset[str]]:
    """The flags, defaults filled in, and the names of those given; UsageError if bad."""
    args = _parser().parse_args(list(argv))
    given = frozenset(f.name for f in FLAGS if getattr(args, f.dest) is not None)
    for flag in FLAGS:
        if getattr(args, flag.dest) is None:
            default = flag.default if flag.parse is not None else False
            if isinstance(default, str) and flag.parse not in (str, Path, None):
                default = flag.parse(default)  # a default written as it is typed ("1s")
            setattr(args, flag.dest, [default] if flag.repeatable else default)
    if args.help:
        given |= {"--help"}
    return args, given


def help_text() -> str:
    """Every flag with its default, as Prometheus' --help lays them out."""
    lines = [
        f"usage: {PROG} [<flags>]",
        "",
        "Prometheus exporter for marketing-campaign sends.",
        "",
        "Flags:",
    ]
    entries = [("  -h, --help", "Show this help and exit.")]
    for flag in FLAGS:
        value = f"={flag.shown_default}" if flag.parse is not None else ""
        value += " ..." if flag.repeatable else ""
        text = flag.help
        if flag.choices:
            text += f" One of: [{', '.join(flag.choices)}]"
        entries.append((f"      {flag.name}{value}", text))
    indent = " " * HELP_COLUMN
    for left, text in entries:
        body = textwrap.wrap(text, WIDTH - HELP_COLUMN)
        if len(left) < HELP_COLUMN - 1:
            lines.append(left.ljust(HELP_COLUMN) + body[0])
        else:
            lines += [left, indent + body[0]]
        lines += [indent + more for more in body[1:]]
    return "\n".join(lines) + "\n"
