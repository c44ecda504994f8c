"""The ``campaign-exporter`` command: Prometheus-style flags, config check, demo."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import anyio

from . import __version__, memory
from .app import RunOptions, run
from .config import ConfigError, load_config, render_config
from .logs import LEVELS, setup_logging
from .shard import Shard
from .web import ListenError, parse_listen_address
from .webconfig import load_web_config

log = logging.getLogger("campaign_exporter")
PROG = "campaign-exporter"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Prometheus exporter for marketing-campaign sends.",
    )
    p.add_argument(
        "--config.file",
        dest="config_file",
        type=Path,
        default=Path("campaign-exporter.yml"),
        help="config file (YAML)",
    )
    p.add_argument(
        "--config.check",
        dest="config_check",
        action="store_true",
        help="validate the config file (and --web.config.file) and exit",
    )
    p.add_argument(
        "--config.print",
        dest="config_print",
        action="store_true",
        help="print the loaded config (secrets hidden) and exit",
    )
    p.add_argument(
        "--web.listen-address",
        dest="listen_address",
        default=":10123",
        help="address to serve /metrics on (default :10123)",
    )
    p.add_argument(
        "--web.config.file",
        dest="web_config_file",
        type=Path,
        default=None,
        help="TLS, basic auth and headers (exporter-toolkit web config format)",
    )
    p.add_argument("--log.level", dest="log_level", choices=list(LEVELS), default="info")
    p.add_argument("--log.format", dest="log_format", choices=["logfmt", "json"], default="logfmt")
    p.add_argument(
        "--shard",
        type=int,
        default=0,
        help="this replica's share of the campaigns, 0 to --total-shards - 1",
    )
    p.add_argument(
        "--total-shards",
        dest="total_shards",
        type=int,
        default=1,
        help="how many replicas split the campaigns between them (default 1)",
    )
    p.add_argument(
        "--demo",
        action="store_true",
        help="run against the built-in simulator of both APIs; no account needed",
    )
    p.add_argument(
        "--demo.campaigns",
        dest="demo_campaigns",
        type=int,
        default=300,
        help="simulated campaigns per API in --demo (default 300)",
    )
    p.add_argument(
        "--demo.speed",
        dest="demo_speed",
        type=float,
        default=60.0,
        help="how much faster than real time the demo's campaigns move (default 60)",
    )
    p.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    return p


def _fail(message: str) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return 1


def _config_error(path: Path, exc: ConfigError) -> int:
    """One line per problem, each naming the file and the key."""
    for line in exc.lines:
        # a key or value quoted from the file may hold a newline: still one line
        text = line if line.isprintable() else line.encode("unicode_escape").decode("ascii")
        print(f"{PROG}: {path}: {text}", file=sys.stderr)
    return 1


def _announcer(sources: int) -> Callable[[list[str]], None]:
    def announce(addresses: list[str]) -> None:
        kv = {"address": ",".join(addresses), "version": __version__, "sources": sources}
        log.info("listening", extra={"kv": kv})

    return announce


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level, args.log_format)
    memory.tune()
    try:
        parse_listen_address(args.listen_address)
    except ValueError as exc:
        return _fail(f"--web.listen-address: {exc}")
    try:
        shard = Shard(args.shard, args.total_shards)
    except ValueError as exc:
        return _fail(f"--shard: {exc}")
    if args.demo:
        from .demo import run_demo

        return _run(lambda: run_demo(args.listen_address, args.demo_campaigns, args.demo_speed))
    try:
        config = load_config(args.config_file)
    except ConfigError as exc:
        return _config_error(args.config_file, exc)
    web_config = None
    if args.web_config_file is not None:
        try:
            web_config = load_web_config(args.web_config_file)
        except ConfigError as exc:
            return _config_error(args.web_config_file, exc)
    if args.config_print:
        print(render_config(config), end="")
        return 0
    if args.config_check:
        print(f"{args.config_file}: config OK ({len(config.sources)} sources)")
        return 0
    options = RunOptions(
        args.listen_address,
        args.config_file,
        _announcer(len(config.sources)),
        web_config=web_config,
        shard=shard,
    )
    return _run(lambda: run(config, options))


def _run(entry: object) -> int:
    try:
        anyio.run(entry)  # type: ignore[arg-type]
    except KeyboardInterrupt:
        return 0
    except BaseException as exc:
        leaves = _leaves(exc)
        if any(isinstance(e, KeyboardInterrupt) for e in leaves):
            return 0
        listen = next((e for e in leaves if isinstance(e, ListenError)), None)
        if listen is not None:
            return _fail(str(listen))
        raise  # a bug: the traceback is what its report needs
    return 0


def _leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions inside anyio's exception groups (nested or not)."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]
