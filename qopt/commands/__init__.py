"""Subcommands of the ``qopt`` CLI, one module each (see :mod:`qopt.cli`)."""

from __future__ import annotations

import sys
from collections.abc import Iterable


def parse_names(values: Iterable[str] | None, known: Iterable[str], prog: str,
                what: str) -> list[str] | None:
    """Names from a repeatable, comma-separated option (``--only a,b --only c``).

    Returns the names in order (empty when the option was not given), or ``None`` after
    printing ``prog: error: unknown <what>(s) ...; known: ...`` to stderr when one is unknown
    (the caller then exits with the usage code 2).
    """
    names: list[str] = []
    for item in values or []:
        names += [s.strip() for s in item.split(",") if s.strip()]
    known = list(known)
    bad = [s for s in names if s not in known]
    if bad:
        print(f"{prog}: error: unknown {what}(s) {', '.join(bad)}; known: {', '.join(known)}",
              file=sys.stderr)
        return None
    return names
