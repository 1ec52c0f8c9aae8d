"""Did-you-mean suggestions for a misspelled name (a method, a weight set, a preset, a claim, a
config key): :func:`did_you_mean`, appended to the error that lists the choices.

Matching is :func:`difflib.get_close_matches` (Ratcliff/Obershelp similarity ≥ 0.6, the
standard library's default), case-insensitive, at most three suggestions, best first. The
error stays the same ``ValueError``; only its message gains the hint.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["close_names", "did_you_mean"]


def close_names(name: object, choices: Iterable[object], n: int = 3,
                cutoff: float = 0.6) -> list[str]:
    """The (at most ``n``) ``choices`` closest to ``name``, best first, compared in lower case;
    empty when none is similar enough."""
    by_lower: dict[str, str] = {}
    for c in choices:
        by_lower.setdefault(str(c).lower(), str(c))
    hits = difflib.get_close_matches(str(name).lower(), list(by_lower), n=n, cutoff=cutoff)
    return [by_lower[h] for h in hits if by_lower[h] != str(name)]


def did_you_mean(name: object, choices: Iterable[object]) -> str:
    """``"; did you mean 'binaryrelax'?"`` (or ``"... 'a' or 'b'?"``), or ``""`` when no choice
    is close to ``name``."""
    hits = close_names(name, choices)
    return f"; did you mean {' or '.join(repr(h) for h in hits)}?" if hits else ""
