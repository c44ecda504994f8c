"""Socket activation: the listening sockets systemd passes a service (``sd_listen_fds(3)``),
for ``--web.systemd-socket``."""

from __future__ import annotations

import os
import socket
from collections.abc import MutableMapping

LISTEN_FDS_START = 3  # SD_LISTEN_FDS_START: the first descriptor systemd passes
_VARIABLES = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")


def systemd_sockets(
    environ: MutableMapping[str, str] | None = None, pid: int | None = None
) -> list[socket.socket]:
    """The sockets passed as descriptors 3, 4, ... when ``LISTEN_PID`` names this process.

    The variables are removed once read, as ``sd_listen_fds(1)`` does, so that no child
    takes the sockets for its own; the descriptors are not inherited either. Anything
    amiss is a ``ValueError`` whose text says what.
    """
    env = os.environ if environ is None else environ
    pid = os.getpid() if pid is None else pid
    pid_text, count_text = env.get("LISTEN_PID"), env.get("LISTEN_FDS")
    if pid_text is None or count_text is None:
        raise ValueError(
            "no sockets passed: LISTEN_PID and LISTEN_FDS are not set "
            "(start it from a systemd socket unit)"
        )
    if pid_text != str(pid):
        raise ValueError(
            f"LISTEN_PID is {pid_text}, not this process ({pid}): "
            "the sockets were passed to another process"
        )
    if not count_text.isdigit() or int(count_text) < 1:
        raise ValueError(f'LISTEN_FDS is "{count_text}": expected a count of 1 or more')
    for name in _VARIABLES:
        env.pop(name, None)
    return [_listening(fd) for fd in range(LISTEN_FDS_START, LISTEN_FDS_START + int(count_text))]


def _listening(fd: int) -> socket.socket:
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        raise ValueError(f"descriptor {fd}: not a socket ({exc.strerror or exc})") from None
    if sock.type != socket.SOCK_STREAM or not sock.getsockopt(
        socket.SOL_SOCKET, socket.SO_ACCEPTCONN
    ):
        sock.detach()  # not ours to close
        raise ValueError(f"descriptor {fd}: not a listening stream socket")
    sock.set_inheritable(False)
    return sock
