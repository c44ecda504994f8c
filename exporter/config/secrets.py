"""Credentials that never print themselves, inline or read from a file that may change."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import anyio

from .localfile import FileRefused, file_version, read_local_file


class Secret:
    """A credential. Its str and repr are ``<secret>``; only ``reveal()`` gives the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<secret>"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("secret", self._value))

    def __reduce__(self) -> tuple[type, tuple[str]]:
        raise TypeError("secrets are not pickled")


MAX_SECRET_BYTES = 64 << 10  # a long JWT is a few KiB; nothing larger is a credential


class SecretFileError(Exception):
    """A secret file that cannot be read: ``key: problem: path``, never the content."""


def check_secret_file(path: Path) -> str | None:
    """What is wrong with ``path`` as a secret file, or None; the content is not kept."""
    try:
        _decode(read_local_file(path, MAX_SECRET_BYTES).data)
    except FileRefused as exc:
        return str(exc)
    return None


def _decode(data: bytes) -> Secret:
    try:
        value = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        # the exception's text quotes the offending byte: a piece of the secret
        raise FileRefused("not UTF-8 text") from None
    if not value:  # sent as it is, it would only come back as a 401
        raise FileRefused("file is empty")
    return Secret(value)


@dataclass(eq=False)
class SecretRef:
    """Where a credential comes from: a value given in the config, or a file.

    A file is read again when it is replaced or its modification time or size changes,
    so a rotated secret (a Kubernetes Secret update, say) is picked up without a restart.
    It is read in a worker thread, so a slow disk never stalls the event loop. ``key`` is
    the config key that named the file, for error messages.
    """

    inline: Secret | None = None
    path: Path | None = None
    key: str = "secret"
    _cache: tuple[tuple[int, ...], Secret] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if (self.inline is None) == (self.path is None):
            raise ValueError("a secret needs exactly one of a value or a file")

    async def get(self) -> Secret:
        if self.inline is not None:
            return self.inline
        return await anyio.to_thread.run_sync(self._read_file)

    def _read_file(self) -> Secret:
        """The file's secret, from the cache while the file is unchanged; blocking."""
        assert self.path is not None
        try:
            version = file_version(self.path)
            with self._lock:
                if self._cache is not None and self._cache[0] == version:
                    return self._cache[1]
                read = read_local_file(self.path, MAX_SECRET_BYTES)
                secret = _decode(read.data)
                self._cache = (read.version, secret)
                return secret
        except FileRefused as exc:
            raise SecretFileError(f"{self.key}: {exc}: {self.path}") from None

    def __repr__(self) -> str:
        return f"SecretRef(file={self.path})" if self.path else "SecretRef(<secret>)"
