"""The README's flags table is what the command's --help says."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from ..helpers import COMMAND

ROOT = Path(__file__).parents[2]


def test_the_readme_flags_table_is_what_help_says() -> None:
    """Every flag, and its default, in the README's table as in --help, and no other."""
    readme = (ROOT / "README.md").read_text()
    table = {
        flag: default.strip("`")
        for flag, default in re.findall(r"^\| `(--[a-z.-]+)` \|\s*([^|]*?)\s*\|", readme, re.M)
    }
    shown = subprocess.run(
        [COMMAND, "--help"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    helped = {
        flag: default.strip('"')
        for flag, default in re.findall(r"^ {6}(--[a-z.-]+)(?:=(\S*))?", shown, re.M)
    }
    assert table == helped
