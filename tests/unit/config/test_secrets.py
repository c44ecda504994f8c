"""Secrets in this process: a secret never prints itself, a secret file that cannot be read is
one line naming its key, a rewritten file is read again, an oversized one is refused at load."""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from exporter.config.errors import ConfigError
from exporter.config.loader import parse_config, render_config
from exporter.config.schema import Authorization
from exporter.config.secrets import Secret, SecretFileError, SecretRef

STATIC = "static-token-s3cret-ABC"


def test_secret_never_prints_itself() -> None:
    secret = Secret("hunter2")
    assert str(secret) == repr(secret) == f"{secret}" == "<secret>"
    assert "hunter2" not in repr([secret, {"k": secret}])
    with pytest.raises(TypeError):
        pickle.dumps(secret)
    config = parse_config(
        {
            "sources": [
                {
                    "name": "p",
                    "type": "experiture",
                    "base_url": "https://x.example",
                    "authorization": {"credentials": "hunter2"},
                }
            ]
        }
    )
    assert "hunter2" not in repr(config) + str(config) + render_config(config)


def token_file(path: Path) -> SecretRef:
    return Authorization(credentials_file=path).secret()


def fifo(directory: Path) -> Path:
    os.mkfifo(directory / "fifo")
    return directory / "fifo"


def oversized(directory: Path) -> Path:
    (directory / "big").write_text("x" * (64 * 1024 + 1))
    return directory / "big"


def binary(directory: Path) -> Path:
    (directory / "bin").write_bytes(STATIC.encode() + b"\xff")
    return directory / "bin"


UNREADABLE_SECRETS: list[tuple[str, Callable[[Path], Path], str]] = [
    ("missing", lambda d: d / "absent", "file not found"),
    ("a FIFO", fifo, "not a regular file"),
    ("a directory", lambda d: d, "not a regular file"),
    ("a device", lambda _: Path("/dev/null"), "not a regular file"),
    ("over 64 KiB", oversized, "file is larger than 64 KiB"),
    ("not UTF-8", binary, "not UTF-8 text"),
]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("make", "problem"),
    [c[1:] for c in UNREADABLE_SECRETS],
    ids=[c[0] for c in UNREADABLE_SECRETS],
)
async def test_unreadable_secret_file_is_one_line_naming_the_key(
    tmp_path: Path, make: Callable[[Path], Path], problem: str
) -> None:
    path = make(tmp_path)
    with anyio.fail_after(10), pytest.raises(SecretFileError) as caught:
        await token_file(path).get()
    assert str(caught.value) == f"authorization.credentials_file: {problem}: {path}"


@pytest.mark.anyio
async def test_a_rewritten_secret_file_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("first\n")
    ref = token_file(path)
    assert (await ref.get()).reveal() == "first"
    path.write_text("second\n")
    assert (await ref.get()).reveal() == "second"


def test_config_check_refuses_an_oversized_secret_file(tmp_path: Path) -> None:
    path = oversized(tmp_path)
    source = {
        "name": "p",
        "type": "experiture",
        "base_url": "https://x.example",
        "authorization": {"credentials_file": str(path)},
    }
    with pytest.raises(ConfigError) as caught:
        parse_config({"sources": [source]})
    assert caught.value.lines == [
        f"sources[0].authorization.credentials_file: file is larger than 64 KiB: {path}"
    ]
