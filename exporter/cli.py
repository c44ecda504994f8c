"""The ``campaign-exporter`` command: Prometheus-style flags, config check, demo."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import anyio

from . import __version__, memory
from .activation import systemd_sockets
from .app import RunOptions, run
from .config import ConfigError, load_config, render_config
from .logs import LEVELS, setup_logging
from .shard import Shard
from .web import Listener, ServingLimits, check_telemetry_path, parse_listen_address
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
        action="append",
        default=None,
        help="address to serve /metrics on (default :10123)",
    )
    p.add_argument(
        "--web.systemd-socket",
        dest="systemd_socket",
        action="store_true",
        help="serve on the listening sockets systemd passes (socket activation) "
        "instead of --web.listen-address",
    )
    p.add_argument(
        "--web.telemetry-path",
        dest="telemetry_path",
        default="/metrics",
        help="path under which to expose metrics (default /metrics)",
    )
    p.add_argument(
        "--web.disable-exporter-metrics",
        dest="disable_exporter_metrics",
        action="store_true",
        help="leave out the metrics about the exporter process (process_*, python_gc_*)",
    )
    p.add_argument(
        "--web.config.file",
        dest="web_config_file",
        type=Path,
        default=None,
        help="TLS, basic auth and headers (exporter-toolkit web config format)",
    )
    p.add_argument(
        "--web.max-requests",
        dest="max_requests",
        type=int,
        default=40,
        help="most /metrics requests served at once; more get 503 (0 = no limit, default 40)",
    )
    p.add_argument(
        "--web.max-connections",
        dest="max_connections",
        type=int,
        default=512,
        help="most open HTTP connections; past it the oldest idle one is closed "
        "(0 = no limit; at most half the open-files limit; default 512)",
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


def _announce(addresses: list[str]) -> None:
    for address in addresses:
        log.info("listening", extra={"kv": {"address": address}})


def _web_options(args: argparse.Namespace, limits: ServingLimits) -> RunOptions:
    """How to serve, from the --web.* flags; takes systemd's sockets, so call it last."""
    return RunOptions(
        _listeners(args),
        on_listening=_announce,
        limits=limits,
        telemetry_path=args.telemetry_path,
        process_metrics=not args.disable_exporter_metrics,
    )


def _listeners(args: argparse.Namespace) -> tuple[Listener, ...]:
    """The addresses to bind, or with --web.systemd-socket the sockets systemd passed,
    which replace them (as in exporter-toolkit). ``ValueError`` names the flag."""
    if not args.systemd_socket:
        return tuple(args.listen_address or [":10123"])
    try:
        sockets = systemd_sockets()
    except ValueError as exc:
        raise ValueError(f"--web.systemd-socket: {exc}") from None
    if args.listen_address:
        log.info("serving on the sockets systemd passed; --web.listen-address is not used")
    return tuple(sockets)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level, args.log_format)
    memory.tune()
    for address in args.listen_address or ():
        try:
            parse_listen_address(address)
        except ValueError as exc:
            return _fail(f"--web.listen-address: {exc}")
    try:
        check_telemetry_path(args.telemetry_path)
    except ValueError as exc:
        return _fail(f"--web.telemetry-path: {exc}")
    try:
        shard = Shard(args.shard, args.total_shards)
    except ValueError as exc:
        return _fail(f"--shard: {exc}")
    for flag, value in (
        ("--web.max-requests", args.max_requests),
        ("--web.max-connections", args.max_connections),
    ):
        if value < 0:
            return _fail(f"{flag}: must be 0 (no limit) or more, got {value}")
    limits = ServingLimits(max_requests=args.max_requests, max_connections=args.max_connections)
    if args.demo:
        from .demo import run_demo

        try:
            demo = _web_options(args, limits)
        except ValueError as exc:
            return _fail(str(exc))
        return _run(lambda: run_demo(demo, args.demo_campaigns, args.demo_speed))
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
    log.info("starting", extra={"kv": {"version": __version__, "sources": len(config.sources)}})
    try:
        web = _web_options(args, limits)
    except ValueError as exc:
        return _fail(str(exc))
    options = dataclasses.replace(
        web, config_file=args.config_file, web_config=web_config, shard=shard
    )
    return _run(lambda: run(config, options))


def _run(entry: object) -> int:
    try:
        anyio.run(entry)  # type: ignore[arg-type]
    except KeyboardInterrupt:
        return 0
    except (OSError, BaseExceptionGroup) as exc:
        # The server runs in a task group, which wraps its bind error in a group.
        error = _os_error(exc)
        if error is None:
            raise
        return _fail(f"cannot serve: {error.strerror or error}")
    return 0


def _os_error(exc: BaseException) -> OSError | None:
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc if isinstance(exc, OSError) else None
