"""Subcommands of the ``qopt`` CLI, one module each (see :mod:`qopt.cli`).

Help convention (every option of every subcommand, checked by ``tests/test_cli_help.py``): a
one-line description, then ``(default: X; choices: a | b | c)``, the default being the value the
command really uses and the choices coming from the registry the command validates against
(:func:`described`, :func:`add_names_option`). Building a parser imports no torch, scipy or
matplotlib: ``add_arguments`` reads only torch-free registries; everything heavy is imported in
``run``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from typing import Any


def described(text: str, default: object = None, choices: Iterable[object] | None = None, *,
              required: bool = False) -> str:
    """``text (default: D; choices: a | b)`` (``text (required; ...)`` for a required
    argument), ``%`` escaped for argparse. ``default``: the value (``None`` reads ``none``) or a
    string saying what happens without the option."""
    extra = ["required" if required else f"default: {'none' if default is None else default}"]
    if choices is not None:
        extra.append("choices: " + " | ".join(map(str, choices)))
    return f"{text} ({'; '.join(extra)})".replace("%", "%%")


def add_names_option(parser: argparse.ArgumentParser, *flags: str, known: Iterable[str],
                     text: str, default: str = "all", **kw: Any) -> argparse.Action:
    """An option of names from a registry: repeatable and comma-separated (``--only a,b --only
    c``), or a positional list (``flags`` a bare name, with ``nargs="*"``). Its help lists
    ``known``, which is kept on the action as ``action.known``; the names are checked by
    :func:`parse_names` when the command runs."""
    known = tuple(known)
    if flags[0].startswith("-"):
        kw.setdefault("action", "append")
    action = parser.add_argument(*flags, help=described(text, default, known), **kw)
    action.known = known  # type: ignore[attr-defined]
    return action


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
        from qopt.suggest import close_names

        hints = "".join(f"; {b}: did you mean {' or '.join(map(repr, close))}?"
                        for b in bad if (close := close_names(b, known)))
        print(f"{prog}: error: unknown {what}(s) {', '.join(bad)}; known: {', '.join(known)}"
              f"{hints}", file=sys.stderr)
        return None
    return names


#: the longest error line printed: a message echoing a huge value is cut in the middle
MAX_LINE = 600


def one_line(exc: BaseException) -> str:
    """An exception's message as one line of at most about :data:`MAX_LINE` characters."""
    text = " ".join(part.strip() for part in str(exc).splitlines() if part.strip())
    if len(text) > MAX_LINE:
        text = f"{text[:MAX_LINE - 100]} [... {len(text) - MAX_LINE + 60} characters ...] " \
               f"{text[-40:]}"
    return text or type(exc).__name__
