"""Reading a small file an operator points us at (the config, a secret) without trusting it.

Only regular files, and only up to a size cap: a FIFO, a device or a huge file would
otherwise block the reader or fill memory.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

# O_NONBLOCK: open(2) of a FIFO with no writer would otherwise wait forever, before
# fstat could tell us it is not a regular file. It changes nothing for regular files.
_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC

MAX_PEM_BYTES = 1 << 20  # a certificate, key or CA file; a system CA bundle is ~200 KiB


class FileRefused(Exception):
    """A file that was not read; the message is the problem alone, never the content."""


@dataclass(frozen=True, slots=True)
class LocalFile:
    data: bytes
    version: tuple[int, ...]  # changes when the file is rewritten or replaced


def size_text(limit: int) -> str:
    if limit % (1 << 20) == 0:
        return f"{limit >> 20} MiB"
    if limit % (1 << 10) == 0:
        return f"{limit >> 10} KiB"
    return f"{limit} bytes"


def file_version(path: Path) -> tuple[int, ...]:
    """What changes when ``path`` is rewritten or replaced (a Kubernetes Secret swaps a
    symlink to a new file); stat(2) never blocks on a FIFO."""
    try:
        return _version(os.stat(path))
    except OSError as exc:
        raise FileRefused(_problem(exc)) from None


def _version(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)


def read_local_file(path: Path, limit: int) -> LocalFile:
    """The bytes of ``path`` if it is a regular file of at most ``limit`` bytes."""
    try:
        fd = os.open(path, _FLAGS)
    except OSError as exc:
        raise FileRefused(_problem(exc)) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FileRefused("not a regular file")
        too_big = f"file is larger than {size_text(limit)}"
        if st.st_size > limit:
            raise FileRefused(too_big)
        chunks, size = [], 0
        while size <= limit and (chunk := os.read(fd, limit + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:  # grew after fstat
            raise FileRefused(too_big)
    except OSError as exc:
        raise FileRefused(_problem(exc)) from None
    finally:
        os.close(fd)
    return LocalFile(b"".join(chunks), _version(st))


def _problem(exc: OSError) -> str:
    if exc.errno == errno.ENOENT:
        return "file not found"
    if exc.errno == errno.EACCES:
        return "file not readable"
    return (exc.strerror or type(exc).__name__).lower()
