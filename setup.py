"""Stamps what was built into the wheel, for ``--version``: the git revision when the build
runs in this project's git checkout, and the build date (``SOURCE_DATE_EPOCH`` when set,
for reproducible builds). A ``exporter/build_info.json`` already there (the Dockerfile
writes one from its build arguments) wins; an editable install reads git at run time
instead (exporter/build.py). Everything else is in pyproject.toml."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
UNKNOWN = "unknown"


def _git(*args: str) -> str:
    # fixed arguments, git from PATH, in this checkout only
    return subprocess.run(  # noqa: S603
        ["git", "-C", str(HERE), *args],  # noqa: S607
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    ).stdout.strip()


def git_revision() -> str | None:
    """HEAD of this checkout (``-dirty`` with uncommitted changes), or None outside one:
    an unpacked sdist inside another repository is not that repository's revision."""
    try:
        if Path(_git("rev-parse", "--show-toplevel")).resolve() != HERE:
            return None
        head = _git("rev-parse", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("-dirty" if dirty else "") if head else None


def build_date() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
    when = int(epoch) if epoch.isdigit() else time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))


class StampedBuildPy(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        target = Path(self.build_lib) / "exporter" / "build_info.json"
        given: dict[str, str] = {}
        if target.exists():
            given = json.loads(target.read_text(encoding="utf-8"))
        known = {k: v for k, v in given.items() if isinstance(v, str) and v and v != UNKNOWN}
        if "revision" not in known and (revision := git_revision()) is not None:
            known["revision"] = revision
        known.setdefault("build_date", build_date())
        target.write_text(json.dumps(known) + "\n", encoding="utf-8")


setup(cmdclass={"build_py": StampedBuildPy})
