"""Worst-case search with shrinking: a fixed corpus, then hypothesis ``find``.

For one check, a *measure* maps an input ``w`` to a :class:`Measured` (figure, ok). The search

1. evaluates a deterministic corpus (edge cases and seeded random draws) and the examples a
   derandomized hypothesis run generates (:func:`explore`, drawn once per set and shared);
2. if the check fails anywhere, runs ``hypothesis.find(strategy, lambda w: not ok(w))`` with the
   same derandomized, database-free settings, so the same inputs are tried on every machine and
   hypothesis *shrinks* the first failure to a minimal one (fewest entries, simplest values);
3. if only the corpus failed (hypothesis' small inputs never did), shrinks that corpus input
   greedily and deterministically (:func:`shrink`: drop entries, rescale by a power of two,
   simplify values); a hypothesis-shrunk input gets a short greedy pass too (hypothesis shrinks
   entries one at a time and can leave a common factor 2^e on all of them).

The figure reported is the worst *finite* one over every input evaluated (corpus, search and
shrinking); ``inf`` only when no finite figure was measured (e.g. the ratio to a zero distance
on inputs already in Q). Beside it, :attr:`SearchResult.worst_failing` is the worst finite
figure over the *failing* inputs only: a failed check reports that one, so its figure is never
taken at an input that passed — where both compared values are rounding noise below the
check's resolution floor (a tie), a ratio of two such values can be large and means nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import HealthCheck, Phase, find, settings
from hypothesis import strategies as st
from hypothesis.errors import Flaky, NoSuchExample

from proofs_check.adapter import QuantizerError

__all__ = ["Measured", "SearchResult", "explore", "search", "shrink"]


@dataclass(frozen=True)
class Measured:
    """One evaluation: ``figure`` (larger is worse), ``ok`` and optional facts for a report.
    ``skipped``: the check could not be evaluated on this input (the quantizer failed on it,
    which the ``contract`` check reports); it counts neither as a pass nor as a failure."""

    figure: float
    ok: bool
    extra: dict[str, Any] = field(default_factory=dict)
    skipped: bool = False


@dataclass(frozen=True)
class SearchResult:
    worst: float
    worst_input: np.ndarray | None
    counterexample: np.ndarray | None
    counterexample_measure: Measured | None
    n_evaluated: int
    n_skipped: int = 0
    #: the worst finite figure over the failing inputs only (nan: none failed, or no finite
    #: figure among them) and the input achieving it
    worst_failing: float = math.nan
    worst_failing_input: np.ndarray | None = None


def _settings(max_examples: int) -> settings:
    return settings(derandomize=True, database=None, max_examples=max_examples, deadline=None,
                    phases=[Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck),
                    report_multiple_bugs=False)


def _candidates(x: np.ndarray) -> Iterable[np.ndarray]:
    """Simpler variants of ``x``: fewer entries along an axis, then simpler values."""
    for ax in range(x.ndim):
        n = x.shape[ax]
        for k in (n // 2, 1):
            if n <= 1 or k < 1:
                continue
            for start in range(0, n, k):
                yield np.delete(x, np.arange(start, min(start + k, n)), axis=ax)
    top = float(np.max(np.abs(x))) if x.size else 0.0
    if top > 0 and np.isfinite(top):
        k = 2.0 ** np.round(np.log2(top))
        if k != 1.0:
            yield x / k  # exact rescaling to max|x| ~ 1
    flat = x.reshape(-1)
    for i in range(flat.size):
        v = flat[i]
        for s in (0.0, float(np.round(v)), float(np.sign(v) * 2.0 ** np.round(np.log2(abs(v))))
                  if v != 0 else 0.0):
            if s != v and math.isfinite(s):
                y = flat.copy()
                y[i] = s
                yield y.reshape(x.shape)


def shrink(x: np.ndarray, fails: Callable[[np.ndarray], bool], budget: int = 2000) -> np.ndarray:
    """Greedy deterministic shrinking: repeatedly replace ``x`` by the first simpler variant that
    still ``fails``, until none does or ``budget`` evaluations are spent."""
    x = np.asarray(x, dtype=np.float64)
    used = 0
    improved = True
    while improved and used < budget:
        improved = False
        for y in _candidates(x):
            used += 1
            if y.size and fails(y):
                x, improved = y, True
                break
            if used >= budget:
                break
    return x


def _key(w: np.ndarray) -> bytes:
    a = np.asarray(w, dtype=np.float64)
    return repr(a.shape).encode() + a.tobytes()


def explore(strategy: st.SearchStrategy[np.ndarray], max_examples: int) -> list[np.ndarray]:
    """The inputs a derandomized hypothesis run of ``max_examples`` generates from ``strategy``
    (drawn once, then shared by every check: generation dominates the cost of a search)."""
    seen: list[np.ndarray] = []

    def collect(w: np.ndarray) -> bool:
        seen.append(np.array(w))
        return False

    try:
        find(strategy, collect, settings=_settings(max_examples))
    except NoSuchExample:
        pass
    return seen


def search(
    strategy: st.SearchStrategy[np.ndarray],
    measure: Callable[[np.ndarray], Measured],
    inputs: Iterable[np.ndarray],
    max_examples: int = 100,
    shrinking: bool = True,
) -> SearchResult:
    """Evaluate ``measure`` on ``inputs`` (the corpus and the explored examples); if it fails
    anywhere, find a minimal failing input with hypothesis (then greedily, see the module
    docstring). ``shrinking=False`` reports the first failing input as is (for a
    non-deterministic quantizer, where shrinking is meaningless).

    Raises:
        QuantizerError: the quantizer raised or broke its contract on some input (the first one
            met is re-raised after the search, with that input attached).
    """
    state: dict[str, Any] = {"worst": -math.inf, "arg": None, "n": 0, "error": None,
                             "inf": None, "skipped": 0, "fworst": -math.inf, "farg": None}

    failures: dict[bytes, Measured] = {}

    def evaluate(w: np.ndarray) -> Measured:
        m = measure(w)
        state["n"] += 1
        if m.skipped:
            state["skipped"] += 1
            return m
        if not m.ok:
            failures[_key(w)] = m
            if math.isfinite(m.figure) and m.figure > state["fworst"]:
                state["fworst"], state["farg"] = m.figure, np.array(w)
        if not math.isfinite(m.figure):
            if state["inf"] is None:
                state["inf"] = np.array(w)
        elif m.figure > state["worst"]:
            state["worst"], state["arg"] = m.figure, np.array(w)
        return m

    first_fail = None
    for w in inputs:
        if not evaluate(w).ok and first_fail is None:
            first_fail = np.array(w)
    cex = None if shrinking else first_fail
    if first_fail is not None and shrinking:
        def condition(w: np.ndarray) -> bool:
            if state["error"] is not None:
                return False
            try:
                return not evaluate(w).ok
            except QuantizerError as exc:
                state["error"] = exc
                return False

        try:
            cex = find(strategy, condition, settings=_settings(max_examples))
        except NoSuchExample:
            cex = shrink(first_fail, lambda y: not evaluate(y).ok)
        except Flaky:  # a non-deterministic fn: no reliable shrinking
            cex = first_fail
        if state["error"] is not None:
            raise state["error"]
        if not failures.get(_key(cex), Measured(0.0, True)).ok:
            cex = shrink(cex, lambda y: not evaluate(y).ok, budget=200)
    cm = None if cex is None else failures.get(_key(cex)) or measure(cex)
    worst, arg = state["worst"], state["arg"]
    if arg is None:  # no finite figure at all
        worst, arg = (math.inf, state["inf"]) if state["inf"] is not None else (math.nan, None)
    fworst = float(state["fworst"]) if state["farg"] is not None else math.nan
    return SearchResult(float(worst), arg, None if cex is None else np.array(cex), cm,
                        state["n"], state["skipped"], fworst, state["farg"])
