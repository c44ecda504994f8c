"""The server's TLS from ``tls_server_config``, mapped from Go's crypto/tls onto what
Python's ssl module can set: certificate and key (files or inline PEM), the client
certificate policy and allowed SANs, versions, cipher suites and curves.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import re
import ssl
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ...config.errors import ConfigError
from ...config.localfile import MAX_PEM_BYTES, FileRefused, read_local_file
from .schema import CIPHER_SUITES, CURVES, TLSServerConfig, WebConfig

log = logging.getLogger("campaign_exporter.webconfig")

_VERIFY_MODES = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
_HTTP2_SUITES = ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256")
_CERT_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)
_KEY_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----(.{0,200})", re.DOTALL)
_SAN_KINDS = {"DNS", "IP Address", "email", "URI"}


class ServerContext(ssl.SSLContext):
    """The server's SSLContext, with the client SANs to allow (None: any SAN)."""

    client_allowed_sans: frozenset[str] | None = None


class _SANCheckedConnection(ssl.SSLObject):
    """Ends a handshake whose client certificate names none of the allowed SANs.

    Python's ssl has no verify callback, so this runs when OpenSSL has finished the
    handshake: the client sees the connection closed before any HTTP, where Go's server
    sends a ``bad certificate`` alert.
    """

    def do_handshake(self) -> None:
        super().do_handshake()
        context = self.context
        allowed = context.client_allowed_sans if isinstance(context, ServerContext) else None
        if allowed is None:
            return
        found = peer_sans(self.getpeercert())
        if found & allowed:
            return
        log.warning(
            "client certificate refused: none of its SANs is in client_allowed_sans",
            extra={"kv": {"sans": ",".join(sorted(found))[:300] or "(no certificate)"}},
        )
        raise ssl.SSLError("client certificate has none of the allowed SANs")


def peer_sans(cert: dict[str, Any] | None) -> set[str]:
    """The DNS, IP, e-mail and URI SANs of a verified peer certificate, IPs written as Go's
    ``net.IP.String`` writes them (Python's ssl writes IPv6 uncompressed)."""
    found: set[str] = set()
    for kind, value in (cert or {}).get("subjectAltName", ()):
        if kind in _SAN_KINDS:
            found.add(_go_ip(value) if kind == "IP Address" else value)
    return found


def _go_ip(text: str) -> str:
    try:
        ip = ipaddress.ip_address(text.strip())
    except ValueError:
        return text
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def watched_files(config: WebConfig, base: Path) -> tuple[Path, ...]:
    """The files a change of which changes the served TLS."""
    tls = config.tls_server_config
    keys = ("cert_file", "key_file", "client_ca_file")
    return tuple(p for p in (tls.path(k, base) for k in keys) if p is not None)


def server_context(config: WebConfig, base: Path) -> ServerContext | None:
    """The TLS to serve, or None for plain HTTP; ConfigError names the first problem, in
    the order the toolkit checks."""
    tls = config.tls_server_config
    if not tls.enabled:
        return None
    if not (tls.cert_file or tls.cert):
        raise _problem("tls_server_config", "one of cert_file or cert is required")
    if not (tls.key_file or tls.key is not None):
        raise _problem("tls_server_config", "one of key_file or key is required")
    ctx = ServerContext(ssl.PROTOCOL_TLS_SERVER)
    _load_pair(ctx, tls, base)
    ca_key, ca_pem = _client_ca(tls, base)
    if ca_pem is not None and tls.client_auth == "NoClientCert":
        raise _problem(
            "tls_server_config",
            f"{ca_key} is set but client_auth_type is NoClientCert: "
            "set client_auth_type: RequireAndVerifyClientCert",
        )
    ctx.verify_mode = _VERIFY_MODES[tls.client_auth]
    if ca_pem is not None:
        _trust(ctx, ca_pem, ca_key)
    elif ctx.verify_mode != ssl.CERT_NONE:
        # As Go does with no ClientCAs: client certificates chain to the system's CAs.
        ctx.load_default_certs(ssl.Purpose.CLIENT_AUTH)
    if tls.client_allowed_sans is not None and ctx.verify_mode != ssl.CERT_NONE:
        ctx.client_allowed_sans = frozenset(tls.client_allowed_sans)
        ctx.sslobject_class = _SANCheckedConnection
    _versions_and_suites(ctx, tls, config.http_server_config.http2)
    return ctx


def _problem(key: str, message: str) -> ConfigError:
    return ConfigError([f"{key}: {message}"])


def _read(tls: TLSServerConfig, file_key: str, base: Path) -> bytes:
    path = tls.path(file_key, base)
    assert path is not None
    try:
        return read_local_file(path, MAX_PEM_BYTES).data
    except FileRefused as exc:
        raise _problem(f"tls_server_config.{file_key}", f"{exc}: {path}") from None


def _load_pair(ctx: ssl.SSLContext, tls: TLSServerConfig, base: Path) -> None:
    # A file wins over inline PEM when both are given, as in the toolkit.
    cert_key = "tls_server_config." + ("cert_file" if tls.cert_file else "cert")
    key_key = "tls_server_config." + ("key_file" if tls.key_file else "key")
    cert = _read(tls, "cert_file", base) if tls.cert_file else tls.cert.encode()
    if tls.key_file:
        key = _read(tls, "key_file", base)
    else:
        assert tls.key is not None
        key = tls.key.reveal().encode()
    if not _CERT_BLOCK.search(cert):
        raise _problem(cert_key, "no PEM certificate found")
    found = _KEY_BLOCK.search(key)
    if found is None:
        raise _problem(key_key, "no PEM private key found")
    if found.group(1).startswith(b"ENCRYPTED") or b"ENCRYPTED" in found.group(2):
        raise _problem(key_key, "the key is encrypted: the web config has no key password")
    with _pem_file(cert) as cert_path, _pem_file(key) as key_path:
        try:
            ctx.load_cert_chain(cert_path, key_path, password=_no_password)
        except ssl.SSLError as exc:
            raise _problem(
                "tls_server_config",
                f"the key does not match the certificate ({exc.reason or exc.strerror})",
            ) from None


def _no_password() -> bytes:
    # Checked above; this keeps OpenSSL from ever prompting on a terminal.
    raise ssl.SSLError("encrypted key")


@contextlib.contextmanager
def _pem_file(data: bytes) -> Iterator[str]:
    """A path to PEM bytes for ``load_cert_chain``, which reads only from paths: a memfd on
    Linux, so an inline key never touches a disk; elsewhere a private temporary file."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("campaign-exporter-pem", os.MFD_CLOEXEC)
        try:
            os.write(fd, data)
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    with tempfile.TemporaryDirectory() as private:
        path = Path(private) / "pem"
        path.write_bytes(data)
        yield str(path)


def _client_ca(tls: TLSServerConfig, base: Path) -> tuple[str, bytes | None]:
    if tls.client_ca_file:
        return "client_ca_file", _read(tls, "client_ca_file", base)
    if tls.client_ca:
        return "client_ca", tls.client_ca.encode()
    return "client_ca_file", None


def _trust(ctx: ssl.SSLContext, pem: bytes, key: str) -> None:
    """Trust each certificate in ``pem``, skipping what does not parse, as Go's
    ``AppendCertsFromPEM`` does."""
    trusted = 0
    for block in _CERT_BLOCK.findall(pem):
        try:
            ctx.load_verify_locations(cadata=block.decode("ascii", "replace"))
        except (ssl.SSLError, ValueError):
            continue
        trusted += 1
    if not trusted:
        log.warning(
            "the client CA holds no certificate: every client certificate is refused",
            extra={"kv": {"key": f"tls_server_config.{key}"}},
        )


def _versions_and_suites(ctx: ssl.SSLContext, tls: TLSServerConfig, http2: bool) -> None:
    with warnings.catch_warnings():
        # TLS 1.0 and 1.1 are deprecated in Python too; the format allows them, and
        # OpenSSL's security level may still refuse their handshakes.
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = _VERSIONS[tls.min_version]
        ctx.maximum_version = _VERSIONS[tls.max_version]
    if tls.cipher_suites:
        if http2 and tls.min_version != "TLS13" and not set(tls.cipher_suites) & set(_HTTP2_SUITES):
            # Go's HTTP/2 server refuses to start on such a list; this server has no HTTP/2,
            # but a file it accepts should work with the toolkit too.
            raise _problem(
                "tls_server_config.cipher_suites",
                "with http_server_config.http2 on (the default), the list needs "
                f"{' or '.join(_HTTP2_SUITES)}",
            )
        names = [CIPHER_SUITES[s] for s in tls.cipher_suites]
        openssl = [n for n in names if n is not None]
        if openssl:
            ctx.set_ciphers(":".join(openssl))
        else:
            # Only TLS 1.3 suites listed: as in Go, TLS 1.2 and older have none to use.
            ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    if tls.prefer_server_cipher_suites:
        ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    else:
        ctx.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    if tls.curve_preferences:
        # Python's ssl sets one curve, not a list: the most preferred one.
        ctx.set_ecdh_curve(CURVES[tls.curve_preferences[0]])
