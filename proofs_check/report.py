"""Reports: named checks, each passed / failed / skipped with a measured figure.

A :class:`Report` is what every verifier of :mod:`proofs_check` returns (``verify_quantizer``,
``verify_theory``, ``verify_run``). It renders as a fixed-width table (``str(report)``) and as
JSON (``report.to_dict()``; arrays become nested lists), so the CLI and pytest assertions share
one format.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Check", "Report", "exact_float", "format_array", "write_json_atomic"]

PASS, FAIL, SKIP = "pass", "FAIL", "skip"
#: statuses of informational statements (theorem hypotheses, convergence diagnostics): they do
#: not fail a report unless it is strict
HOLDS, VIOLATED = "holds", "violated"


def exact_float(v: Any) -> str:
    """The shortest text that reads back as exactly ``v`` (Python's float ``repr``: 17
    significant digits where needed), integral values without the ``.0`` (``3``, ``0.5``,
    ``3.072770118713379``, ``1e-300``, ``inf``): a counterexample printed this way replays."""
    s = repr(float(v))
    return s[:-2] if s.endswith(".0") else s


def format_array(x: Any, max_items: int = 12, digits: int | None = None) -> str:
    """Printable form of an array (``...`` beyond ``max_items`` entries per row), used for
    counterexamples: every entry at full precision (:func:`exact_float`), so the printed input
    reproduces the failure; ``digits`` significant digits instead for a short display."""
    a = np.asarray(x)

    def fmt(v: Any) -> str:
        return exact_float(v) if digits is None else f"{float(v):.{digits}g}"

    if a.ndim == 0:
        return fmt(a)
    if a.ndim == 1:
        items = [fmt(v) for v in a[:max_items]]
        if a.size > max_items:
            items.append(f"... ({a.size} items)")
        return "[" + ", ".join(items) + "]"
    rows = [format_array(r, max_items, digits) for r in a[:max_items]]
    if a.shape[0] > max_items:
        rows.append(f"... ({a.shape[0]} rows)")
    return "[" + ", ".join(rows) + "]"


def _jsonable(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.floating, float)):
        v = float(x)
        return v if math.isfinite(v) else repr(v)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return x


@dataclass(frozen=True)
class Check:
    """One named check.

    Attributes:
        name: short identifier (``optimality``, ``orthogonality``, a claim name...).
        status: ``"pass"``, ``"FAIL"`` or ``"skip"`` (not applicable, with the reason in
            ``detail``); informational statements use ``"holds"`` / ``"violated"``.
        figure: the measured number (worst over the search), ``nan`` when none.
        measure: what ``figure`` is and the bound it was compared to, in words.
        detail: free text (the failure message, the source of a claim, ...).
        counterexample: a minimal input on which the check fails (numpy array), or ``None``.
        extra: further JSON-able facts (e.g. the output of the function on the counterexample).
        section: the report section the check belongs to (empty: none).
    """

    name: str
    status: str
    figure: float = math.nan
    measure: str = ""
    detail: str = ""
    counterexample: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    section: str = ""

    @property
    def passed(self) -> bool:
        return self.status == PASS

    @property
    def failed(self) -> bool:
        return self.status == FAIL

    def to_dict(self) -> dict[str, Any]:
        d = {"name": self.name, "status": self.status,
             "passed": self.status not in (FAIL, VIOLATED), "figure": self.figure,
             "measure": self.measure, "detail": self.detail,
             "counterexample": self.counterexample, **self.extra}
        if self.section:
            d["section"] = self.section
        return _jsonable(d)


@dataclass(frozen=True)
class Report:
    """An ordered collection of :class:`Check` results with a title and context facts.

    ``report.passed`` is True iff no check failed (skipped checks do not count); a ``strict``
    report also fails on ``"violated"`` informational statements. ``sections`` (name -> one-line
    meaning) groups the checks by their ``section`` in the table and the JSON.
    """

    title: str
    checks: tuple[Check, ...]
    context: dict[str, Any] = field(default_factory=dict)
    sections: dict[str, str] = field(default_factory=dict)
    strict: bool = False

    @property
    def passed(self) -> bool:
        return not any(c.failed or (self.strict and c.status == VIOLATED)
                       for c in self.checks)

    @property
    def failed_checks(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.failed)

    def __getitem__(self, name: str) -> Check:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(f"no check named {name!r}; have {[c.name for c in self.checks]}")

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"title": self.title, "passed": self.passed,
                             "context": self.context,
                             "checks": [c.to_dict() for c in self.checks]}
        if self.sections:
            d["strict"] = self.strict
            d["sections"] = {name: {"meaning": meaning,
                                    "checks": [c.to_dict() for c in self.checks
                                               if c.section == name]}
                             for name, meaning in self.sections.items()}
        return _jsonable(d)

    def table(self, columns: tuple[str, ...] = ("name", "status", "figure", "measure")) -> str:
        """Fixed-width table, one row per check; failures add indented detail and
        counterexample lines below their row."""
        def cell(c: Check, col: str) -> str:
            v = getattr(c, col) if hasattr(c, col) else c.extra.get(col, "")
            if col == "figure":
                return "-" if (isinstance(v, float) and math.isnan(v)) else f"{v:.6g}"
            return str(v)

        rows = [[cell(c, col) for col in columns] for c in self.checks]
        widths = [max([len(col)] + [len(r[i]) for r in rows]) for i, col in enumerate(columns)]
        widths[-1] = len(columns[-1])  # last column is free-width
        lines = [self.title]
        lines += [f"  {k}: {v}" for k, v in self.context.items()]
        lines.append("  " + "  ".join(col.ljust(w) for col, w in zip(columns, widths)))
        section = None
        for c, r in zip(self.checks, rows):
            if self.sections and c.section != section:
                section = c.section
                lines.append(f"  [{section}] {self.sections.get(section, '')}")
            lines.append("  " + "  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())
            if c.status != PASS and c.detail and "detail" not in columns:
                lines.append(f"      {c.detail}")
            if isinstance(c.extra.get("note"), str):  # e.g. why a pass shows a large figure
                lines.append(f"      {c.extra['note']}")
            if c.counterexample is not None:
                lines.append(f"      counterexample w = {format_array(c.counterexample)}")
                for k, v in c.extra.items():
                    if isinstance(v, np.ndarray) and k not in columns and k != "worst_input":
                        lines.append(f"      {k} = {format_array(v)}")
                worst = c.extra.get("worst_input")
                if isinstance(worst, np.ndarray):
                    over = " (over the failing inputs)" if c.status == FAIL else ""
                    more = " (every entry: --json)" if worst.size > 12 else ""
                    lines.append(f"      worst figure{over} {c.figure:.6g} at w = "
                                 f"{format_array(worst)}{more}")
        n_fail = len(self.failed_checks)
        lines.append(f"  => {'all checks passed' if not n_fail else f'{n_fail} check(s) FAILED'}")
        n_viol = sum(c.status == VIOLATED for c in self.checks)
        if n_viol:
            lines[-1] += (f"; {n_viol} informational statement(s) violated"
                          + (" (--strict: counted as failures)" if self.strict
                             else " (informational: not counted)"))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def write_json_atomic(obj: Any, path: str | os.PathLike[str]) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically (the project's one atomic writer,
    :func:`qopt.io.atomic_write_text`: temp file + fsync + rename, umask respected)."""
    from qopt.io import atomic_write_text

    atomic_write_text(path, json.dumps(_jsonable(obj), indent=2) + "\n")
