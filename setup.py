"""Stamps what was built into the wheel, for ``--version``: the git revision when the build
runs in this project's git checkout, and the build date (``SOURCE_DATE_EPOCH`` when set,
for reproducible builds). A ``exporter/build_info.json`` already there (the Dockerfile
writes one from its build arguments) wins; an editable install reads git at run time
instead (exporter/build.py). Everything else is in pyproject.toml."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the package's own build module (standard library only)

from exporter.build import from_file, git_revision  # noqa: E402


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
        known = from_file(target)  # the Dockerfile's, when it wrote one
        if "revision" not in known and (revision := git_revision(HERE)) is not None:
            known["revision"] = revision
        known.setdefault("build_date", build_date())
        target.write_text(json.dumps(known) + "\n", encoding="utf-8")


setup(cmdclass={"build_py": StampedBuildPy})
