"""What a source's ``tls_config`` and proxy settings come to: the client TLS context its
files make (read through the bounded reader, each problem naming its key), the proxies
the environment sets, and what the config check reports of them (problems that would stop
the source's connections, warnings an operator should see).

The upstream client's transport builds its context here too: the check and the
connections read the same files the same way.
"""

from __future__ import annotations

import ssl
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from .localfile import MAX_PEM_BYTES, FileRefused, read_local_file
from .schema import SourceConfig, TlsConfig, TlsVersion
from .types import parse_proxy_url

TLS_VERSIONS: Mapping[TlsVersion, ssl.TLSVersion] = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}


class TlsFileError(Exception):
    """A ``tls_config`` file that cannot be used: ``key: problem: path``, one line."""


def tls_files(tls: TlsConfig) -> list[tuple[str, Path]]:
    return [
        (f"tls_config.{key}", path)
        for key in ("ca_file", "cert_file", "key_file")
        if (path := getattr(tls, key)) is not None
    ]


def tls_context(tls: TlsConfig) -> ssl.SSLContext:
    """The client context ``tls`` describes; ``TlsFileError`` names the key at fault.
    Blocking (it reads files)."""
    ctx = ssl.create_default_context()
    if tls.min_version is not None:
        ctx.minimum_version = TLS_VERSIONS[tls.min_version]
    if tls.insecure_skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if tls.ca_file is not None:
        pem = _read("tls_config.ca_file", tls.ca_file)
        ctx = _only_these_cas(ctx, pem, tls.ca_file)
    if tls.cert_file is not None and tls.key_file is not None:
        # read through the bounded reader first: ssl would read a FIFO or a huge file
        _read("tls_config.cert_file", tls.cert_file)
        _read("tls_config.key_file", tls.key_file)
        try:
            ctx.load_cert_chain(tls.cert_file, tls.key_file)
        except (ssl.SSLError, ValueError, OSError) as exc:
            raise TlsFileError(
                f"tls_config.cert_file: not a certificate with key_file's key ({_why(exc)}): "
                f"{tls.cert_file}"
            ) from None
    return ctx


def egress_problems(config: SourceConfig) -> list[str]:
    """What would stop a source's connections, each as ``key: problem`` (for the config
    check): TLS files that cannot be used, a proxy in the environment of another scheme."""
    problems = []
    if config.tls_config is not None:
        try:
            tls_context(config.tls_config)
        except TlsFileError as exc:
            problems.append(str(exc))
    if config.proxy_from_environment:
        for scheme, raw in sorted(environment_proxies().items()):
            try:
                parse_proxy_url(raw)
            except ValueError as exc:
                problems.append(f"proxy_from_environment: {scheme.upper()}_PROXY: {exc}")
    return problems


def environment_proxies() -> dict[str, str]:
    """``HTTP_PROXY`` and ``HTTPS_PROXY`` (either case), by the scheme they serve."""
    found = urllib.request.getproxies_environment()
    return {scheme: found[scheme] for scheme in ("http", "https") if scheme in found}


def egress_warnings(config: SourceConfig) -> tuple[str, ...]:
    """What an operator should know of how this source connects (the status page shows it,
    the start logs it)."""
    if config.tls_config is not None and config.tls_config.insecure_skip_verify:
        return ("TLS certificates not verified (tls_config.insecure_skip_verify)",)
    return ()


def _only_these_cas(ctx: ssl.SSLContext, pem: bytes, path: Path) -> ssl.SSLContext:
    """``ctx`` trusting the CAs in ``pem`` alone, as Prometheus does with a ``ca_file``."""
    fresh = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    fresh.minimum_version = ctx.minimum_version
    fresh.check_hostname, fresh.verify_mode = ctx.check_hostname, ctx.verify_mode
    try:
        fresh.load_verify_locations(cadata=pem.decode("ascii"))
    except (ssl.SSLError, UnicodeDecodeError, ValueError) as exc:
        raise TlsFileError(
            f"tls_config.ca_file: no PEM certificate in it ({_why(exc)}): {path}"
        ) from None
    return fresh


def _read(key: str, path: Path) -> bytes:
    try:
        return read_local_file(path, MAX_PEM_BYTES).data
    except FileRefused as exc:
        raise TlsFileError(f"{key}: {exc}: {path}") from None


def _why(exc: Exception) -> str:
    if isinstance(exc, ssl.SSLError):
        return ssl_words(exc)
    return type(exc).__name__


def ssl_words(exc: ssl.SSLError) -> str:
    """The TLS library's own words for what went wrong ("certificate has expired",
    "tlsv13 alert certificate required")."""
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
        return exc.verify_message
    return (exc.reason or "handshake failed").lower().replace("_", " ")
