"""Source sections of a config file as the config tests write them, valid and with made-up
credentials: a keyword replaces a key, None leaves it out."""

from __future__ import annotations

from typing import Any


def ga(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "ga",
        "type": "greenarrow",
        "base_url": "https://ga.example.com",
        "basic_auth": {"username": "1", "password": "k"},
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def source(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "prod",
        "type": "experiture",
        "base_url": "https://api.experiture.ai/public/v1",
        "authorization": {"credentials": "t0ken"},
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}
