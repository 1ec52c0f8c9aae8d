"""The registry of the theory's claims and ``verify_theory``, which runs them all.

A :class:`Claim` is one statement the toolkit makes, with its source (paper lemma, released code,
or "derived here") and the *independent* method that checks it (symbolic, brute force, Monte
Carlo, finite differences, quadrature): the check never re-evaluates the formula it tests by the
same route. Claims live in ``claims_*.py`` / ``descent.py``, one family per file, and register
themselves here through :func:`claim`.

``verify_theory()`` returns a :class:`~proofs_check.report.Report` whose rows read
claim · source · method · result (figure = the worst residual, ratio or violation the check
measured, with its bound in ``measure``); ``qopt verify theory`` prints it.
"""

from __future__ import annotations

import importlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from proofs_check.report import Check, Report
from qopt.suggest import close_names

__all__ = ["CLAIMS", "Claim", "Outcome", "all_claims", "claim", "verify_theory"]

#: modules defining claims, imported by :func:`verify_theory` (each registers on import)
CLAIM_MODULES = ("proofs_check.claims_sets", "proofs_check.descent",
                 "proofs_check.claims_twolayer", "proofs_check.claims_steps")


@dataclass(frozen=True)
class Outcome:
    """What a claim's check measured: ``held``, the worst ``figure``, and what it is (``measure``,
    with the bound) plus free ``detail``."""

    held: bool
    figure: float
    measure: str
    detail: str = ""


@dataclass(frozen=True)
class Claim:
    """One claim: ``name``, ``statement`` (one line), ``source``, ``method``, and ``check``
    (a zero-argument function returning an :class:`Outcome`; deterministic, seeded)."""

    name: str
    statement: str
    source: str
    method: str
    check: Callable[[], Outcome]


CLAIMS: dict[str, Claim] = {}


def claim(name: str, statement: str, source: str, method: str
          ) -> Callable[[Callable[[], Outcome]], Callable[[], Outcome]]:
    """Decorator registering ``check`` as the claim ``name`` (names are unique)."""
    def register(check: Callable[[], Outcome]) -> Callable[[], Outcome]:
        if name in CLAIMS and CLAIMS[name].check is not check:
            raise ValueError(f"claim {name!r} registered twice")
        CLAIMS[name] = Claim(name, statement, source, method, check)
        return check
    return register


def _load() -> None:
    for mod in CLAIM_MODULES:
        importlib.import_module(mod)


def all_claims() -> dict[str, Claim]:
    """Every registered claim, name -> :class:`Claim` (imports the claim modules; ``qopt verify
    theory --list``)."""
    _load()
    return dict(CLAIMS)


def verify_theory(only: Sequence[str] | None = None, *,
                  on_start: Callable[[int, int, str], None] | None = None,
                  on_result: Callable[[int, int, Check], None] | None = None) -> Report:
    """Run every registered claim (or those named in ``only``) and report each.

    A claim whose check raises is reported as failed with the exception in ``detail``.
    ``on_start(i, n, name)`` is called before the i-th of n claims runs and
    ``on_result(i, n, check)`` as soon as it has finished (i counts from 1), so a caller can
    stream results instead of waiting for the whole report.

    Raises:
        ValueError: ``only`` names an unknown claim.
    """
    _load()
    names = list(CLAIMS) if not only else list(only)
    unknown = [n for n in names if n not in CLAIMS]
    if unknown:
        hints = "".join(f"; {b}: did you mean {' or '.join(map(repr, close))}?"
                        for b in unknown if (close := close_names(b, CLAIMS)))
        raise ValueError(f"unknown claim(s) {unknown}; known: {sorted(CLAIMS)}{hints}")
    checks = []
    t_all = time.perf_counter()
    for i, n in enumerate(names, start=1):
        c = CLAIMS[n]
        if on_start is not None:
            on_start(i, len(names), n)
        t0 = time.perf_counter()
        try:
            out = c.check()
            status = "pass" if bool(out.held) else "FAIL"
            fig, measure, detail = float(out.figure), out.measure, out.detail
        except Exception as exc:  # a crashing check is a failed claim, with its reason
            status, fig, measure = "FAIL", math.nan, ""
            detail = f"check raised {type(exc).__name__}: {exc}"
        extra = {"source": c.source, "method": c.method, "statement": c.statement,
                 "seconds": round(time.perf_counter() - t0, 3)}
        checks.append(Check(n, status, fig, measure, detail, None, extra))
        if on_result is not None:
            on_result(i, len(names), checks[-1])
    ctx = {"claims": len(checks), "seconds": round(time.perf_counter() - t_all, 2)}
    return _TheoryReport("verify_theory", tuple(checks), ctx)


class _TheoryReport(Report):
    """A report printed as claim · source · method · result (figure and its bound)."""

    def table(self, columns: tuple[str, ...] = ("name", "source", "method", "status", "figure",
                                                "measure")) -> str:
        return super().table(columns)
