"""Argument checks shared by :mod:`qopt.nn` (ValueError/TypeError naming the argument)."""

from __future__ import annotations

import math
from collections.abc import Sequence

#: Bit widths accepted by the quantized activations and UniQ (tables of qopt.nn.constants).
MIN_BITS, MAX_BITS = 1, 16


def check_bits(bits: object, name: str = "bits") -> int:
    """Return ``bits`` as int if it is an int in [1, 16] (not bool); else raise."""
    if isinstance(bits, bool) or not isinstance(bits, int):
        raise TypeError(f"{name} must be an int in [{MIN_BITS}, {MAX_BITS}], got {bits!r}")
    if not MIN_BITS <= bits <= MAX_BITS:
        raise ValueError(f"{name} must be in [{MIN_BITS}, {MAX_BITS}], got {bits}")
    return int(bits)


def check_choice(value: object, name: str, choices: Sequence[str]) -> str:
    """Return ``value`` if it is one of ``choices``; else raise ValueError/TypeError."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {tuple(choices)}, got {value!r}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")
    return value


def check_positive(value: object, name: str, allow_none: bool = False) -> float | None:
    """Return ``value`` as a finite float > 0 (or None when allowed); else raise."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a positive finite number, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return v


def check_bool(value: object, name: str) -> bool:
    """Return ``value`` if it is a bool; else raise TypeError."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {value!r}")
    return value
