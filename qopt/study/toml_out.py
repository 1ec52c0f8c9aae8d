"""A minimal TOML writer for study dicts (``study.toml`` in a study directory, ``--show``).

Top-level tables become ``[name]`` sections; tables of tables (``methods``, ``backend``)
become ``[methods.name]`` sections; other tables are written inline. ``None`` is written as the
string ``"none"``, which every nullable config field reads back as None. A test checks that
every preset round-trips (``parse_toml(to_toml(d)) == d``).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

_BARE = re.compile(r"[A-Za-z0-9_-]+")


def _key(k: str) -> str:
    return k if _BARE.fullmatch(k) else json.dumps(k)


def value(v: Any) -> str:
    """One TOML value."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return '"none"'
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def to_toml(d: dict[str, Any]) -> str:
    """The study dict as TOML text."""
    parts = []
    for name, tab in d.items():
        if not isinstance(tab, dict):
            raise TypeError(f"top-level entry {name!r} must be a table")
        nested = name in ("methods", "backend")
        scalars = {k: v for k, v in tab.items() if not (isinstance(v, dict) and nested)}
        subs = {k: v for k, v in tab.items() if isinstance(v, dict) and nested}
        if scalars or not subs:
            parts.append(f"[{_key(name)}]\n" + "".join(f"{_key(k)} = {value(v)}\n"
                                                       for k, v in scalars.items()))
        for k, v in subs.items():
            parts.append(f"[{_key(name)}.{_key(k)}]\n" + "".join(
                f"{_key(a)} = {value(x)}\n" for a, x in v.items()))
    return "\n".join(parts)
