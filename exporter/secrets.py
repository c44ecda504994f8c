"""Credentials that never print themselves, inline or read from a file that may change."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path


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


class SecretFileError(Exception):
    """A secret file that cannot be read; the message names the path, never the content."""


@dataclass(eq=False)
class SecretRef:
    """Where a credential comes from: a value given in the config, or a file.

    A file is read again when its modification time or size changes, so a rotated
    secret (a Kubernetes Secret update, say) is picked up without a restart.
    """

    inline: Secret | None = None
    path: Path | None = None
    _cache: tuple[tuple[int, int], Secret] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if (self.inline is None) == (self.path is None):
            raise ValueError("a secret needs exactly one of a value or a file")

    def get(self) -> Secret:
        if self.inline is not None:
            return self.inline
        assert self.path is not None
        try:
            st = os.stat(self.path)
        except OSError as exc:
            raise SecretFileError(f"{self.path}: {exc.strerror or 'cannot stat'}") from None
        key = (st.st_mtime_ns, st.st_size)
        with self._lock:
            if self._cache is not None and self._cache[0] == key:
                return self._cache[1]
            try:
                value = self.path.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                reason = getattr(exc, "strerror", None) or type(exc).__name__
                raise SecretFileError(f"{self.path}: {reason}") from None
            secret = Secret(value)
            self._cache = (key, secret)
            return secret

    def __repr__(self) -> str:
        return f"SecretRef(file={self.path})" if self.path else "SecretRef(<secret>)"
