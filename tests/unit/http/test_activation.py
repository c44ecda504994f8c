"""Socket activation on its own: sockets systemd passed to another process are not taken."""

from __future__ import annotations

import re

import pytest

from exporter.http.activation import systemd_sockets


def test_sockets_passed_to_another_process_are_not_taken() -> None:
    """systemd names the process the sockets are for; a child that inherited the
    variables must not serve its parent's sockets."""
    env = {"LISTEN_PID": "4242", "LISTEN_FDS": "1"}
    message = (
        "LISTEN_PID is 4242, not this process (4343): the sockets were passed to another process"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        systemd_sockets(env, pid=4343)
    assert env == {"LISTEN_PID": "4242", "LISTEN_FDS": "1"}
