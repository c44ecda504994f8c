"""Text from an upstream, made safe once where it enters: nothing downstream (label values,
log lines, the status page) can fail on it, grow without bound, or echo a credential."""

from __future__ import annotations

import re
from collections.abc import Iterable

MARK = "…"  # ends a string that was cut
# Lone surrogates cannot be encoded as UTF-8 (a JavaScript backend that cuts a string in
# the middle of an emoji sends them as valid JSON escapes); C0 controls and DEL would let
# a value forge log lines.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")
REPLACEMENT = "\ufffd"
SCRUBBED = "<secret>"
MIN_SECRET = 4  # shorter values would scrub ordinary words


def clean_text(value: str, limit: int) -> str:
    """``value`` with unencodable or control code points replaced, cut to ``limit``."""
    if len(value) > limit:
        value = value[: limit - 1] + MARK
    if value.isascii() and value.isprintable():
        return value
    return _UNSAFE.sub(REPLACEMENT, value).replace("\t", " ").replace("\n", " ")


def scrub(value: str, secrets: Iterable[str]) -> str:
    """``value`` with every occurrence of each secret replaced: an upstream error message
    may echo the credential the request carried."""
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= MIN_SECRET and secret in value:
            value = value.replace(secret, SCRUBBED)
    return value
