"""Keeps the process's RSS close to the memory it really holds (glibc only; elsewhere a no-op).

The exposition is rebuilt after every refresh as a few large bytes objects. glibc's
default raises its mmap threshold after the first large free, so later bodies come from the
heap, where freed space fragments and is not handed back; worker threads add arenas of
their own. A fixed mmap threshold, two arenas and a trim after each publish keep RSS flat.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger("campaign_exporter.memory")

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


_LIBC = _libc()


def tune() -> bool:
    """Call once at startup, before threads start. True when glibc took the settings."""
    if _LIBC is None:
        return False
    ok = all(
        (
            _LIBC.mallopt(M_MMAP_THRESHOLD, 256 * 1024),
            _LIBC.mallopt(M_TRIM_THRESHOLD, 1024 * 1024),
            _LIBC.mallopt(M_ARENA_MAX, 2),
        )
    )
    log.debug("malloc tuned", extra={"kv": {"ok": bool(ok)}})
    return bool(ok)


def trim() -> None:
    """Hand freed heap memory back to the system."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
