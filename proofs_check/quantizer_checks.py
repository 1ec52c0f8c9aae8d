r"""The properties a quantizer ``fn`` for a set Q must have, one measure per check.

With :math:`P` the exact projection (:func:`theory.project`), :math:`q = \mathrm{fn}(w)`, rows
= slices along ``axis`` (one scale each) and r the tolerance of :mod:`proofs_check.tolerance`:

==================  =====================================================================  =======
check               property (per slice)                                                    sets
==================  =====================================================================  =======
contract            fn(w) returns w's shape (and one scale per slice); no raise, exit, hang  all
membership          :math:`q = \alpha L^n` for one :math:`\alpha \ge 0` (or the fixed scale)  all
optimality          :math:`\|w-q\|^2 \le \mathrm{dist}(w,Q)^2 + S(w, q)` (rounding slack)        all
idempotence         :math:`\mathrm{fn}(q) = q`                                                all
scale_equivariance  :math:`\mathrm{fn}(cw) = c\,\mathrm{fn}(w)`, c > 0 per slice (or a tie)   cones
sign_symmetry       :math:`\mathrm{fn}(-w) = -\mathrm{fn}(w)` (or a tie)                      L = -L
orthogonality       :math:`|\langle w-q, q\rangle| \le S_\perp(w, q)`                          cones
prox_invariance     :math:`\mathrm{fn}(u) = q`, :math:`u = (w+\lambda q)/(1+\lambda)`          all
prox_value          :math:`F(u) = \min F` (F defined below)                                  all
determinism         same input, bitwise same output; the input is not modified              all
==================  =====================================================================  =======

with :math:`F(u) = \tfrac12\|u-w\|^2 + \tfrac\lambda2 \mathrm{dist}(u,Q)^2`, λ ∈ {0.1, 1, 10}.
The value checks (optimality, prox_value, orthogonality, ties) allow exactly what rounding the
output of an exact projection can explain: the slack S of
:class:`proofs_check.tolerance.RoundingSlack`, of order :math:`\varepsilon\|w-q\|\,\|w\|` per
slice (``docs/math/verifier-tolerances.md``); prox_value allows
:math:`\tfrac{\lambda}{2(1+\lambda)} S`, since
:math:`F(u) - \min F \le \tfrac{\lambda}{2(1+\lambda)}(\|w-q\|^2 - \mathrm{dist}(w,Q)^2)`.

*Failures of fn itself* (it raises, calls ``sys.exit``, returns a wrong shape, or, in a child
process, hangs or dies) are the ``contract`` check's: it reports the smallest such input. Every
other check skips the inputs on which fn fails (counted in its detail), so its counterexample
shows a wrong *answer*, not a crash. *Resolution*: differences below the dtype's resolution at the
input's scale are ties (:mod:`proofs_check.tolerance`: within ``r·max|w|``, or both values
below the dtype's smallest normal number ``tiny``).

Sources: cone orthogonality and the prox closed form :math:`\min F = \tfrac{\lambda}{2(1+\lambda)}
d(w,Q)^2`, attained at ``theory.prox``, derived here (``docs/math/quantization-sets.md#cone-facts``,
``docs/math/binaryrelax.md#prox-proof``; checked by ``qopt verify theory``). prox_invariance holds
for ANY closed set (derived here): if q is a nearest point of w then for u strictly inside the
segment [w, q], :math:`\|u - x\| \ge \|w - x\| - \|w - u\| \ge \|w - q\| - \|w - u\| = \|u - q\|`
for every x in Q, with equality only for x = q, so q is the unique nearest point of u. *Ties*: where
the exact projection is not unique (e.g. Binary at w_i = 0, |w_i| equal at a ternary threshold) the
equivariance and symmetry checks accept two different outputs when they approximate the transformed
input equally well (equal squared error within tolerance): they then differ only in how a tie was
broken.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from proofs_check.adapter import QuantizerCaller, QuantizerError
from proofs_check.search import Measured
from proofs_check.tolerance import RoundingSlack
from theory.projection import nearest_codes, project
from theory.sets import QuantSet

__all__ = ["CHECKS", "applicable", "make_measure"]

LAMBDAS = (0.1, 1.0, 10.0)
#: per-slice multipliers of the equivariance check (slice r uses MULTIPLIERS[r % 4]; 3 and 0.1
#: are not powers of two, so the scaled input is rounded like any other input)
MULTIPLIERS = (3.0, 0.1, 7.0, 0.37)

CHECKS = ("contract", "membership", "optimality", "idempotence", "scale_equivariance",
          "sign_symmetry", "orthogonality", "prox_invariance", "prox_value", "determinism")


def applicable(name: str, qset: QuantSet) -> str | None:
    """None if check ``name`` applies to ``qset``, else the reason it is skipped."""
    if name in ("scale_equivariance", "orthogonality") and not qset.is_cone:
        return "only for free-scale sets (cones); this set has a fixed scale"
    if name == "sign_symmetry" and not qset.is_symmetric:
        return "only for symmetric levels (L = -L)"
    return None


class _Ctx:
    """Everything a measure needs: the caller, the set, the axis and the tolerances (r, the
    resolution floor ``tiny`` and the value checks' rounding slack; ``slack=None``: the
    input-relative bound r·||w||^2 instead)."""

    def __init__(self, caller: QuantizerCaller, qset: QuantSet, axis: int | None, rel: float,
                 tiny: float = 0.0, slack: RoundingSlack | None = None):
        self.caller, self.qset, self.axis, self.rel, self.tiny = caller, qset, axis, rel, tiny
        self.slack = slack

    def value_slack(self, w: np.ndarray, q: np.ndarray, input_rounding: bool = False
                    ) -> np.ndarray:
        """Per slice: how much ||w - q||^2 may exceed dist(w, Q)^2 by rounding alone
        (:class:`~proofs_check.tolerance.RoundingSlack`), or r·||w||^2 + floor."""
        rw, rq = self.rows(w), self.rows(q)
        if self.slack is None:
            return self.rel * np.sum(rw * rw, 1) + self.sq_floor(w)
        return self.slack.optimality(rw, rq, input_rounding)

    def sq_floor(self, w: np.ndarray, mult: float = 1.0) -> float:
        """Absolute floor of squared quantities over one slice: n (mult·tiny)^2."""
        return self.rows(w).shape[1] * (mult * self.tiny) ** 2

    def rows(self, a: np.ndarray) -> np.ndarray:
        a = np.asarray(a, dtype=np.float64)
        if self.axis is None:
            return a.reshape(1, -1)
        return np.moveaxis(a, self.axis, 0).reshape(a.shape[self.axis], -1)

    def dist2(self, w: np.ndarray) -> np.ndarray:
        return np.atleast_1d(np.asarray(project(w, self.qset, self.axis).dist2, dtype=float))

    def err2(self, w: np.ndarray, q: np.ndarray) -> np.ndarray:
        return np.sum((self.rows(w) - self.rows(q)) ** 2, axis=1)

    def equally_good(self, w: np.ndarray, a: np.ndarray, b: np.ndarray,
                     mult: float = 1.0) -> bool:
        """``a`` and ``b`` approximate ``w`` equally well in every slice (a tie: the outputs
        differ only by how a tie was broken), within ``r ||w||^2``."""
        ea, eb = self.err2(w, a), self.err2(w, b)
        if self.slack is None:
            r = self.rows(w)
            tol = self.rel * np.sum(r * r, 1) + self.sq_floor(w, mult)
        else:  # each within rounding of the optimum of an input within rounding of w
            tol = (self.value_slack(w, a, True) + self.value_slack(w, b, True)
                   + self.sq_floor(w, mult))
        ok = np.abs(ea - eb) <= tol
        return bool(np.all(ok & np.isfinite(ea) & np.isfinite(eb)))

    def close(self, w: np.ndarray, a: np.ndarray, b: np.ndarray,
              mult: float = 1.0) -> tuple[float, bool]:
        """(max |a-b| relative to the slice's magnitude, within tolerance r·magnitude); entries
        where both |a| and |b| are at most mult·tiny are ties (0 at the dtype's resolution)."""
        ra, rb, rw = self.rows(a), self.rows(b), self.rows(w)
        mag = np.maximum(np.max(np.abs(rw), 1), np.max(np.abs(ra), 1))[:, None]
        diff = np.abs(ra - rb)
        if not np.all(np.isfinite(diff)):
            return float("inf"), False
        floor = mult * self.tiny
        excess = np.where((np.abs(ra) <= floor) & (np.abs(rb) <= floor), 0.0, diff)
        rel = np.where(mag > 0, excess / np.where(mag > 0, mag, 1.0), excess)
        return float(np.max(rel)), bool(np.all(excess <= self.rel * mag))


def _membership(c: _Ctx, w: np.ndarray) -> Measured:
    out = c.caller(w)
    q = c.rows(out.q)
    if not np.all(np.isfinite(q)):
        return Measured(float("inf"), False, {"fn(w)": out.q, "why": "non-finite output"})
    lv = c.qset.levels
    mag = np.maximum(np.max(np.abs(c.rows(w)), 1), np.max(np.abs(q), 1))
    worst, why = 0.0, ""
    for i, row in enumerate(q):
        if out.scale is not None:
            cands = [float(out.scale[i])]
            if c.qset.scale is not None and abs(cands[0] - c.qset.scale) > c.rel * c.qset.scale:
                worst, why = float("inf"), f"returned scale {cands[0]:g} != fixed {c.qset.scale:g}"
                continue
            if cands[0] < 0:
                worst, why = float("inf"), f"returned scale {cands[0]:g} < 0"
                continue
        elif c.qset.scale is not None:
            cands = [c.qset.scale]
        else:
            k = int(np.argmax(np.abs(row)))
            cands = [row[k] / v for v in lv if v != 0 and row[k] / v > 0] or [0.0]
            if row[k] == 0:
                cands = [0.0]
        best = np.inf
        for a in cands:
            z = lv[nearest_codes(row / a, lv)] if a > 0 else np.full_like(row, 0.0)
            res = np.abs(row - a * z)
            res[(np.abs(row) <= c.tiny) & (np.abs(a * z) <= c.tiny)] = 0.0  # both ~0: a tie
            best = min(best, float(np.max(res)))
        rel = best / mag[i] if mag[i] > 0 else best
        if rel > worst:
            worst = rel
    ok = worst <= c.rel
    return Measured(worst, ok, {} if ok else {"fn(w)": out.q, **({"why": why} if why else {})})


def _excess_note(excess: np.ndarray, tol: np.ndarray) -> dict[str, float]:
    """The worst slice's excess over the optimum and its rounding slack (for the report)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(tol > 0, excess / np.where(tol > 0, tol, 1.0),
                        np.where(excess > 0, np.inf, 0.0))
    k = int(np.argmax(np.where(np.isnan(frac), np.inf, frac)))
    return {"excess": float(excess[k]), "slack": float(tol[k]), "excess/slack": float(frac[k])}


def _optimality(c: _Ctx, w: np.ndarray) -> Measured:
    q = c.caller(w).q
    e2, d2 = c.err2(w, q), c.dist2(w)
    if c.slack is None:
        tol = c.rel * d2 + c.rel * np.sum(c.rows(w) ** 2, 1) + c.sq_floor(w)
    else:
        tol = c.value_slack(w, q)
    ok = bool(np.all(e2 - d2 <= tol))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(d2 > 0, e2 / np.where(d2 > 0, d2, 1.0), np.where(e2 <= tol, 1.0, np.inf))
    ratio = np.where(np.isnan(ratio), np.inf, ratio)
    note = _excess_note(e2 - d2, tol)
    extra = {"note": note} if ok else {"fn(w)": q, "P(w)": project(w, c.qset, c.axis).q,
                                       "note": note}
    return Measured(float(np.max(ratio)), ok, extra)


def _idempotence(c: _Ctx, w: np.ndarray) -> Measured:
    q = c.caller(w).q
    if not np.all(np.isfinite(q)):
        return Measured(float("inf"), False, {"fn(w)": q})
    q_in = c.caller.cast(q)
    q2 = c.caller(q_in).q
    fig, ok = c.close(q_in, q2, q_in)
    return Measured(fig, ok, {} if ok else {"fn(w)": q_in, "fn(fn(w))": q2})


def _transformed(c: _Ctx, w: np.ndarray, mult: np.ndarray) -> Measured:
    """fn(m*w) == m*fn(w), or both optimal for m*w (a tie)."""
    x = c.caller.cast(mult * w)
    a = c.caller(x).q
    b = mult * c.caller(w).q
    m = max(1.0, float(np.max(np.abs(mult))))  # m*fn(w) scales fn(w)'s sub-resolution part
    fig, ok = c.close(x, a, b, m)
    if not ok and c.equally_good(x, a, b, m):
        ok = True
    return Measured(fig, ok, {} if ok else {"fn(m*w)": a, "m*fn(w)": b})


def _mults(c: _Ctx, w: np.ndarray, base: tuple[float, ...]) -> np.ndarray:
    if c.axis is None:
        return np.full(w.shape, base[0])
    shape = [1] * w.ndim
    shape[c.axis] = w.shape[c.axis]
    return np.array([base[i % len(base)] for i in range(w.shape[c.axis])]).reshape(shape)


def _scale_equivariance(c: _Ctx, w: np.ndarray) -> Measured:
    worst = None
    for base in (MULTIPLIERS, MULTIPLIERS[::-1]):
        m = _transformed(c, w, _mults(c, w, base))
        if not m.ok:
            return m
        worst = m if worst is None or m.figure > worst.figure else worst
    return worst


def _sign_symmetry(c: _Ctx, w: np.ndarray) -> Measured:
    return _transformed(c, w, np.full(w.shape, -1.0))


def _orthogonality(c: _Ctx, w: np.ndarray) -> Measured:
    q = c.rows(c.caller(w).q)
    r = c.rows(w)
    ip = np.abs(np.sum((r - q) * q, 1))
    n2 = np.sum(r * r, 1)
    floor = c.sq_floor(w)
    excess = np.maximum(ip - floor, 0.0)
    rel = np.where(n2 > 0, excess / np.where(n2 > 0, n2, 1.0), excess)
    tol = c.rel * n2 + floor if c.slack is None else c.slack.orthogonality(r, q)
    ok = bool(np.all(ip <= tol))
    return Measured(float(np.max(rel)) if np.all(np.isfinite(rel)) else float("inf"), ok,
                    {} if ok else {"fn(w)": c.caller(w).q})


def _prox_invariance(c: _Ctx, w: np.ndarray) -> Measured:
    q = c.caller(w).q
    worst = Measured(0.0, True)
    for lam in LAMBDAS:
        u = c.caller.cast((w + lam * q) / (1 + lam))
        qu = c.caller(u).q
        fig, ok = c.close(u, qu, q)
        if not ok:
            return Measured(fig, False, {"lambda": lam, "fn(w)": q, "fn(prox(w))": qu})
        if fig > worst.figure:
            worst = Measured(fig, True)
    return worst


def _prox_value(c: _Ctx, w: np.ndarray) -> Measured:
    q = c.caller(w).q
    worst = 1.0
    n2 = np.sum(c.rows(w) ** 2, 1)
    d2w = c.dist2(w)
    top: dict[str, float] = {}
    if c.slack is not None:  # F(u) - min F <= lam/(2(1+lam)) (||w-q||^2 - d^2): same slack
        s_opt = c.value_slack(w, q)
        rw, rq = c.rows(w), c.rows(q)
        s_eval = c.slack.factor * c.slack.evaluation(rw, rq)
        # q is the rounding of a point of Q: dist(u, Q) <= ||u - q|| + ||rho||, ||rho|| <= u_o||q||
        uo, f = c.slack.u_out, c.slack.factor
        e_q = np.sqrt(np.sum((rw - rq) ** 2, 1)) * np.sqrt(np.sum(rq * rq, 1))
        q2 = np.sum(rq * rq, 1)
    for lam in LAMBDAS:
        u = (w + lam * q) / (1 + lam)
        if not np.all(np.isfinite(u)):
            return Measured(float("inf"), False, {"lambda": lam, "fn(w)": q})
        val = 0.5 * np.sum((c.rows(u) - c.rows(w)) ** 2, 1) + 0.5 * lam * c.dist2(u)
        best = lam / (2 * (1 + lam)) * d2w
        if c.slack is None:
            tol = c.rel * best + c.rel * lam * n2 + (1 + lam) * c.sq_floor(w)
        else:
            tol = (lam / (2 * (1 + lam)) * s_opt
                   + f * (lam / (1 + lam) * uo * e_q + lam / 2 * uo * uo * q2)
                   + (1 + lam) * (s_eval + c.sq_floor(w)))
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(best > 0, val / np.where(best > 0, best, 1.0),
                             np.where(val <= tol, 1.0, np.inf))
        worst = max(worst, float(np.max(ratio)))
        note = _excess_note(val - best, tol)
        if not np.all(val - best <= tol):
            return Measured(worst, False, {"lambda": lam, "prox_fn(w)": u, "note": note})
        if lam == LAMBDAS[0] or note["excess/slack"] > top["excess/slack"]:
            top = note
    return Measured(worst, True, {"note": top})


def _determinism(c: _Ctx, w: np.ndarray) -> Measured:
    o1, modified = c.caller.run(w)
    o2, _ = c.caller.run(w)
    o3 = c.caller(w)
    if modified:
        return Measured(float("inf"), False, {"why": "fn modified its input in place"})
    d = max(float(np.max(np.abs(o1.q - o2.q), initial=0.0)),
            float(np.max(np.abs(o1.q - o3.q), initial=0.0)))
    same = np.array_equal(o1.q, o2.q, equal_nan=True) and np.array_equal(o1.q, o3.q,
                                                                        equal_nan=True)
    return Measured(d if same or d > 0 else float("inf"), bool(same),
                    {} if same else {"fn(w) call 1": o1.q, "fn(w) call 2": o2.q})


def _contract(c: _Ctx, w: np.ndarray) -> Measured:
    try:
        c.caller(w)
    except QuantizerError as exc:
        if exc.kind == "skipped":
            return Measured(float("nan"), True, {"why": str(exc)}, skipped=True)
        return Measured(float("inf"), False, {"why": str(exc)})
    return Measured(0.0, True)


_MEASURES: dict[str, Callable[[_Ctx, np.ndarray], Measured]] = {
    "membership": _membership, "optimality": _optimality, "idempotence": _idempotence,
    "scale_equivariance": _scale_equivariance, "sign_symmetry": _sign_symmetry,
    "orthogonality": _orthogonality, "prox_invariance": _prox_invariance,
    "prox_value": _prox_value, "determinism": _determinism, "contract": _contract,
}


def make_measure(name: str, caller: QuantizerCaller, qset: QuantSet, axis: int | None,
                 rel: float, tiny: float = 0.0,
                 failures: list[np.ndarray] | None = None,
                 slack: RoundingSlack | None = None) -> Callable[[np.ndarray], Measured]:
    """The measure of check ``name`` (one of :data:`CHECKS`) for this quantizer and set.

    ``tiny``: the resolution floor (:mod:`proofs_check.tolerance`); ``slack``: the rounding
    slack of the value checks (None: the input-relative bound r·||w||^2). Except for
    ``contract``, an input on which fn fails (:class:`~proofs_check.adapter.QuantizerError`, on
    ``w`` itself or on an input derived from it) is *skipped*; the failing input is appended to
    ``failures`` (so the contract check can be run on it).
    """
    if name not in _MEASURES:
        raise ValueError(f"unknown check {name!r}; expected one of {CHECKS}")
    ctx = _Ctx(caller, qset, axis, rel, tiny, slack)
    f = _MEASURES[name]
    if name == "contract":
        return lambda w: f(ctx, w)

    def measure(w: np.ndarray) -> Measured:
        try:
            return f(ctx, w)
        except QuantizerError as exc:
            if failures is not None and exc.input is not None and exc.kind != "skipped":
                failures.append(np.array(exc.input))
            return Measured(float("nan"), True, {"why": str(exc)}, skipped=True)

    return measure
