"""The ``campaign-exporter`` command: Prometheus-style flags, config check, demo,
health check."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import anyio

from .. import __version__
from ..books.shard import Shard
from ..build import build_info
from ..config.errors import ConfigError
from ..config.loader import load_config, render_config
from ..http.activation import systemd_sockets
from ..http.server import (
    Listener,
    ListenError,
    ServingLimits,
    check_telemetry_path,
    parse_listen_address,
)
from ..http.webconfig import load_web_config
from ..run import memory
from ..run.app import RunOptions, run
from .flags import PROG, UsageError, help_text, parse_flags
from .healthcheck import main_process_args, probe
from .logs import setup_logging

log = logging.getLogger("campaign_exporter")
# What --demo runs without: it has its own simulator, config and single replica.
NOT_WITH_DEMO = (
    "--config.file",
    "--config.check",
    "--config.print",
    "--config.auto-reload-interval",
    "--web.config.file",
    "--shard",
    "--total-shards",
    "--healthcheck",
)
ONLY_WITH_DEMO = ("--demo.campaigns", "--demo.speed")
FILE_NOT_FOUND = "file not found"
FIRST_RUN = (
    "no --config.file given; --demo runs the exporter against its built-in simulator, "
    "--help lists the flags"
)
HEALTHCHECK_FLAGS = frozenset({"--web.listen-address", "--web.config.file"})


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


def _announcer(sources: int | None) -> Callable[[list[str]], None]:
    def announce(addresses: list[str]) -> None:
        for address in addresses:
            kv = {"address": address, "version": __version__, "sources": sources}
            log.info("listening", extra={"kv": kv})

    return announce


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args, given = parse_flags(sys.argv[1:] if argv is None else argv)
    except UsageError as exc:
        return _fail(f"{exc} (see --help)")
    if args.help:
        print(help_text(), end="")
        return 0
    if args.version:
        print(build_info().text(PROG), end="")
        return 0
    problem = _conflict(given)
    if problem:
        return _fail(problem)
    setup_logging(args.log_level, args.log_format)
    for address in args.web_listen_address:
        try:
            parse_listen_address(address)
        except ValueError as exc:
            return _fail(f"--web.listen-address: {exc}")
    if args.healthcheck:
        return _healthcheck(args, given)
    try:
        check_telemetry_path(args.web_telemetry_path)
    except ValueError as exc:
        return _fail(f"--web.telemetry-path: {exc}")
    try:
        shard = Shard(args.shard, args.total_shards)
    except ValueError as exc:
        return _fail(f"--shard: {exc}")
    for flag, value in (
        ("--web.max-requests", args.web_max_requests),
        ("--web.max-connections", args.web_max_connections),
    ):
        if value < 0:
            return _fail(f"{flag}: must be 0 (no limit) or more, got {value}")
    limits = ServingLimits(
        max_requests=args.web_max_requests, max_connections=args.web_max_connections
    )
    memory.tune()
    if args.demo:
        from .demo import run_demo

        try:
            demo = _web_options(args, limits, None)
        except ValueError as exc:
            return _fail(str(exc))
        return _run(lambda: run_demo(demo, args.demo_campaigns, args.demo_speed))
    return _serve(args, given, shard, limits)


def _conflict(given: frozenset[str]) -> str | None:
    """Flags that would be silently ignored: refused instead."""
    if "--demo" in given:
        ignored = [name for name in NOT_WITH_DEMO if name in given]
        if ignored:
            return (
                f"--demo runs against its own simulator and would ignore {', '.join(ignored)}: "
                "drop them, or drop --demo"
            )
    else:
        needs = [name for name in ONLY_WITH_DEMO if name in given]
        if needs:
            return f"{', '.join(needs)} {'needs' if len(needs) == 1 else 'need'} --demo"
    return None


def _web_options(
    args: argparse.Namespace, limits: ServingLimits, sources: int | None
) -> RunOptions:
    """How to serve, from the --web.* flags; takes systemd's sockets, so call it last."""
    return RunOptions(
        _listeners(args),
        on_listening=_announcer(sources),
        limits=limits,
        telemetry_path=args.web_telemetry_path,
        process_metrics=not args.web_disable_exporter_metrics,
        storage_path=Path(args.storage_path) if args.storage_path else None,
        storage_max_age=args.storage_max_age,
    )


def _listeners(args: argparse.Namespace) -> tuple[Listener, ...]:
    """The addresses to bind, or with --web.systemd-socket the sockets systemd passed,
    which replace them (as in exporter-toolkit). ``ValueError`` names the flag."""
    if not args.web_systemd_socket:
        return tuple(args.web_listen_address)
    try:
        sockets = systemd_sockets()
    except ValueError as exc:
        raise ValueError(f"--web.systemd-socket: {exc}") from None
    return tuple(sockets)


def _serve(
    args: argparse.Namespace, given: frozenset[str], shard: Shard, limits: ServingLimits
) -> int:
    try:
        config = load_config(args.config_file)
    except ConfigError as exc:
        if "--config.file" not in given and exc.lines == [FILE_NOT_FOUND]:
            # most likely a first run: say where to start
            return _fail(f"{args.config_file}: {FILE_NOT_FOUND} ({FIRST_RUN})")
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
    if args.web_systemd_socket and "--web.listen-address" in given:
        log.info("serving on the sockets systemd passed; --web.listen-address is not used")
    try:
        web = _web_options(args, limits, len(config.sources))
    except ValueError as exc:
        return _fail(str(exc))
    options = dataclasses.replace(
        web,
        config_file=args.config_file,
        web_config=web_config,
        shard=shard,
        config_watch_every=args.config_auto_reload_interval,
    )
    return _run(lambda: run(config, options))


def _healthcheck(args: argparse.Namespace, given: frozenset[str]) -> int:
    """The first listen address and web config given, or else those the container's
    main process runs with."""
    address, web_config = args.web_listen_address[0], args.web_config_file
    if not given & HEALTHCHECK_FLAGS and (main := main_process_args()) is not None:
        main_args, cwd = main
        try:
            theirs, _ = parse_flags(main_args)
        except UsageError:
            theirs = args
        address, web_config = theirs.web_listen_address[0], theirs.web_config_file
        if web_config is not None:
            web_config = cwd / web_config  # as that process reads it; absolute stays so
    problem = probe(address, web_config)
    if problem:
        return _fail(f"not healthy: {problem}")
    return 0


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
