"""Parsing of command-line values as TOML literals (numbers, booleans, lists, inline tables),
falling back to a plain string: ``3`` -> 3, ``1e-4`` -> 0.0001, ``[80,140]`` -> [80, 140],
``{channels=16}`` -> {"channels": 16}, ``ternary`` -> "ternary"."""

from __future__ import annotations

import sys
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def parse_value(text: str) -> Any:
    """A TOML literal if ``text`` is one, else the string itself."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_sets(items: list[str] | None) -> dict[str, Any]:
    """``["key=value", ...]`` -> dict; ``ValueError`` for an item without ``=``."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, eq, val = item.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        out[key.strip().replace("-", "_")] = parse_value(val.strip())
    return out
