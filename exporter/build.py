"""What was built: version, revision and build date, for ``--version``.

The revision and date come, first found first:
1. ``CAMPAIGN_EXPORTER_REVISION`` and ``CAMPAIGN_EXPORTER_BUILD_DATE`` in the environment;
2. ``exporter/build_info.json``, written at build time: by setup.py in every wheel (the
   git revision of the checkout built from, the build date), and before it by the
   Dockerfile from its ``REVISION`` and ``BUILD_DATE`` build arguments (any packager may);
3. git, when the package runs from a git work tree (an editable install or a checkout);
4. otherwise "unknown".
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from . import __version__

PACKAGE = Path(__file__).resolve().parent
INFO_FILE = PACKAGE / "build_info.json"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class BuildInfo:
    version: str
    revision: str
    build_date: str

    def text(self, prog: str) -> str:
        """Prometheus' layout of ``--version``."""
        python = f"{platform.python_version()} ({platform.python_implementation()})"
        return (
            f"{prog}, version {self.version} (revision: {self.revision})\n"
            f"  build date:       {self.build_date}\n"
            f"  python version:   {python}\n"
            f"  platform:         {sys.platform}/{platform.machine()}\n"
        )


def from_file(path: Path) -> dict[str, str]:
    """What a build_info.json says, its unknown or empty values left out."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, str) and v and v != UNKNOWN}


def _git(directory: Path, *args: str) -> str:
    # fixed arguments, git from PATH: only for a source tree, only for --version
    return subprocess.run(  # noqa: S603
        ["git", "-C", str(directory), *args],  # noqa: S607
        capture_output=True,
        text=True,
        timeout=5,
        check=True,
    ).stdout.strip()


def git_revision(root: Path) -> str | None:
    """HEAD of the git checkout whose top is ``root`` (``-dirty`` with uncommitted
    changes), or None when ``root`` is not the top of one: an unpacked sdist inside
    another repository is not that repository's revision. setup.py stamps wheels with it."""
    try:
        if Path(_git(root, "rev-parse", "--show-toplevel")).resolve() != root.resolve():
            return None
        head = _git(root, "rev-parse", "HEAD")
        dirty = _git(root, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("-dirty" if dirty else "") if head else None


def _from_git(directory: Path) -> dict[str, str]:
    if not (directory.parent / ".git").exists():
        return {}
    revision = git_revision(directory.parent)
    if revision is None:
        return {}
    return {"revision": revision, "build_date": "none (source tree)"}


ENV = (("revision", "CAMPAIGN_EXPORTER_REVISION"), ("build_date", "CAMPAIGN_EXPORTER_BUILD_DATE"))


def build_info(env: Mapping[str, str] = os.environ) -> BuildInfo:
    found = {key: value for key, name in ENV if (value := env.get(name, ""))}
    for read, where in ((from_file, INFO_FILE), (_from_git, PACKAGE)):
        if len(found) == len(ENV):
            break
        for key, value in read(where).items():
            found.setdefault(key, value)
    return BuildInfo(__version__, found.get("revision", UNKNOWN), found.get("build_date", UNKNOWN))
