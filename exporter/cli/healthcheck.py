"""``--healthcheck``: is an exporter serving at the configured address? For the image's
HEALTHCHECK, which cannot know a port or TLS set by the container's own flags, so it can
read them from the container's main process."""

from __future__ import annotations

import http.client
import socket
import ssl
from pathlib import Path

from ..config.errors import ConfigError
from ..http.server import parse_listen_address
from ..http.webconfig import load_web_config

TIMEOUT = 4.0
REQUIRE_CLIENT_CERT = "RequireAndVerifyClientCert"
_EVERY_INTERFACE = {None: "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}  # noqa: S104


def main_process_args(proc: Path = Path("/proc")) -> tuple[list[str], Path] | None:
    """The flags of the container's main process (PID 1) when it is this command, and its
    working directory (for relative paths): what a HEALTHCHECK needs to follow
    ``docker run image --web.listen-address=...``."""
    try:
        argv = (proc / "1" / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    words = [w.decode("utf-8", "replace") for w in argv if w]
    for i, word in enumerate(words):
        if Path(word).name == "campaign-exporter":
            return words[i + 1 :], proc / "1" / "cwd"
    return None


def probe(
    listen_address: str, web_config_file: Path | None, timeout: float = TIMEOUT
) -> str | None:
    """None when the exporter answers /-/healthy, else what went wrong (one line).

    With TLS on, the certificate is not checked (it is the exporter's own, on this host).
    With basic auth on, a 401 proves it serves (the probe has no password). When client
    certificates are required, the probe has none: a TLS handshake with the exporter is
    what proves it serves.
    """
    host, port = parse_listen_address(listen_address)
    target = _EVERY_INTERFACE.get(host, host)
    assert target is not None
    tls, users, client_cert = False, False, False
    if web_config_file is not None:
        try:
            loaded = load_web_config(web_config_file).current()
        except ConfigError as exc:
            return f"{web_config_file}: {exc.lines[0]}"
        if loaded is not None:
            tls, users = loaded.tls is not None, loaded.users is not None
            client_cert = loaded.config.tls_server_config.client_auth == REQUIRE_CLIENT_CERT
    url = f"{'https' if tls else 'http'}://{target}:{port}/-/healthy"
    try:
        if client_cert:
            _handshake(target, port, timeout)
            return None
        status = _get(target, port, tls, timeout)
    except ssl.SSLError as exc:
        return f"{url}: TLS: {exc.reason or exc}"
    except OSError as exc:
        return f"{url}: {exc.strerror or exc}"
    if status == 200 or (status == 401 and users):
        return None
    return f"{url}: HTTP {status}"


def _unverified() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # its own certificate, over loopback
    return context


def _get(host: str, port: int, tls: bool, timeout: float) -> int:
    conn = (
        http.client.HTTPSConnection(host, port, timeout=timeout, context=_unverified())
        if tls
        else http.client.HTTPConnection(host, port, timeout=timeout)
    )
    try:
        conn.request("GET", "/-/healthy")
        return conn.getresponse().status
    finally:
        conn.close()


def _handshake(host: str, port: int, timeout: float) -> None:
    with socket.create_connection((host, port), timeout=timeout) as sock:
        context = _unverified()
        # In TLS 1.2 the server asks for the certificate inside the handshake: its alert
        # is an answer too, as good as a finished TLS 1.3 handshake.
        try:
            with context.wrap_socket(sock):
                pass
        except ssl.SSLError as exc:
            if "ALERT" not in str(exc).upper():
                raise
