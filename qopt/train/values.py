"""Parsing of command-line values: TOML literals (numbers, booleans, lists, inline tables)
falling back to a plain string, ``key=value`` lists for tables and comma lists for arrays.

``3`` -> 3, ``1e-4`` -> 0.0001, ``[80,140]`` or ``80,140`` -> [80, 140], ``{channels=16}`` or
``channels=16`` -> {"channels": 16}, ``lam0=2,growth=1.1,per=epoch`` -> {"lam0": 2,
"growth": 1.1, "per": "epoch"}, ``ternary`` -> "ternary".
"""

from __future__ import annotations

import sys
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def shown(text: str, limit: int = 80) -> str:
    """``repr(text)``, cut to about ``limit`` characters (an error message stays one short
    line whatever the user typed)."""
    r = repr(text)
    return r if len(r) <= limit else f"{r[:limit - 20]}...{r[-12:]} ({len(text)} chars)"


def parse_value(text: str) -> Any:
    """A TOML literal if ``text`` is one, else the string itself."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
    except RecursionError:
        raise ValueError(f"value {shown(text)} is nested too deeply") from None


def split_top_level(text: str, sep: str = ",") -> list[str]:
    """Split at ``sep`` outside brackets, braces and quotes (``a=[1,2],b=x`` -> 2 items)."""
    out, depth, quote, cur = [], 0, "", []
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == sep and depth == 0:
            out.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    out.append("".join(cur))
    return [s.strip() for s in out if s.strip()]


def parse_table(text: str, what: str = "value") -> dict[str, Any]:
    """``{k = v, ...}`` (TOML inline table) or ``k=v,k2=v2`` (values as :func:`parse_value`);
    ``ValueError`` naming ``what`` for an item without ``=``."""
    s = text.strip()
    if not s:
        return {}
    if s.startswith("{"):
        v = parse_value(s)
        if not isinstance(v, dict):
            raise ValueError(f"{what}: malformed table {shown(text)} (TOML inline table "
                             "{key = value, ...} or key=value,key=value)")
        return v
    out: dict[str, Any] = {}
    for item in split_top_level(s):
        key, eq, val = item.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"{what}: expected key=value items separated by commas, got "
                             f"{shown(item)} in {shown(text)}")
        out[key.strip()] = parse_value(val.strip())
    return out


def parse_list(text: str) -> list[Any]:
    """``[a, b]`` (TOML array) or ``a,b`` (items as :func:`parse_value`)."""
    s = text.strip()
    if s.startswith("["):
        v = parse_value(s)
        if isinstance(v, list):
            return v
    return [parse_value(item) for item in split_top_level(s)]


def parse_sets(items: list[str] | None) -> dict[str, Any]:
    """``["key=value", ...]`` -> dict (dotted keys kept: ``methods.bcgd.rho``); ``ValueError``
    for an item without ``=`` and for a key given twice with different values (the later one
    would silently replace the earlier: ``--set 'method_args={lam_max=50}' --set
    'method_args={rho=0.01}'`` would drop ``lam_max``)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, eq, val = item.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"--set expects KEY=VALUE, got {shown(item)}")
        key, value = key.strip().replace("-", "_"), parse_value(val.strip())
        if key in out and out[key] != value:
            raise ValueError(f"--set {key} given twice ({out[key]!r}, then {value!r}); give it "
                             "once (for method_args: one table, or method_args.KEY=V per key)")
        out[key] = value
    return out
