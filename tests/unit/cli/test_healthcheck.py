"""The health check's reading of the container's main process from /proc."""

from __future__ import annotations

from pathlib import Path

from exporter.cli.healthcheck import main_process_args


def test_main_process_flags_are_read_from_proc(tmp_path: Path) -> None:
    (tmp_path / "1").mkdir()
    argv = [
        "/opt/venv/bin/python",
        "/opt/venv/bin/campaign-exporter",
        "--web.listen-address=:9999",
        "--config.file=/etc/x.yml",
    ]
    (tmp_path / "1" / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    assert main_process_args(tmp_path) == (
        ["--web.listen-address=:9999", "--config.file=/etc/x.yml"],
        tmp_path / "1" / "cwd",
    )
    (tmp_path / "1" / "cmdline").write_bytes(b"/sbin/tini\0--\0sleep\0")
    assert main_process_args(tmp_path) is None
    assert main_process_args(tmp_path / "absent") is None
