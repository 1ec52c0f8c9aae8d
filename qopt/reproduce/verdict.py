r"""Verdicts — reproduced / refuted / inconclusive — computed by stated decision rules.

Every rule below is applied by code to measured numbers; the report prints the rule next to the
verdict. With :math:`[lo, hi]` the 95% interval of a difference D (:mod:`qopt.reproduce.stats`):

=========================  ==================================  ================================
claim                      reproduced when                      refuted when
=========================  ==================================  ================================
"A > B" (``greater``)      lo > 0 (the interval lies above 0)   hi < 0 (it lies below 0)
"A ≈ B" (``equivalent``,   −δ < lo and hi < δ (inside the       lo > δ or hi < −δ (wholly
margin δ)                  equivalence band: two one-sided      outside the band)
                           tests at 2.5% each)
closed form = Monte Carlo  every |z| ≤ z* (z = (closed − MC)    some |z| > z*
(``agreement``)            / SE; z* the Bonferroni-corrected
                           two-sided 95% quantile
                           Φ⁻¹(1 − 0.025/K) over K checks)
MC quantity > 0            every simultaneous lower bound       some simultaneous upper bound
(``positive``)             est − z*·SE > 0                      est + z*·SE < 0
deterministic number       |residual| ≤ tol_reproduce           |residual| > tol_refute
(``within``)
inequality at every step   no violation among ≥ n_min checked   some violation beyond rounding
(``no_violations``)        cases
=========================  ==================================  ================================

Inconclusive otherwise — in particular whenever an interval is unbounded (one seed). A claim
made of several parts is combined by :func:`combine`: reproduced iff every part is reproduced,
refuted iff some part is refuted, inconclusive otherwise (``not run`` iff no part ran). A
training claim judged under several named protocols (:mod:`qopt.reproduce.robustness`) is
``protocol-dependent`` when their verdicts disagree (a part with that status makes the combined
verdict protocol-dependent unless another part is refuted). A
verdict from a reduced ``--quick`` protocol carries ``smoke=True`` and is labelled so: it
exercises the pipeline, it does not speak for the claim.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

from qopt.reproduce.stats import Interval

__all__ = ["INCONCLUSIVE", "NOT_RUN", "PROTOCOL_DEPENDENT", "REFUTED", "REPRODUCED", "STATUSES",
           "Verdict",
           "agreement", "bonferroni_z", "combine", "equivalent", "greater", "no_violations",
           "positive", "smoke", "within"]

REPRODUCED, REFUTED, INCONCLUSIVE = "reproduced", "refuted", "inconclusive"
#: a claim whose protocol could not run here (e.g. CIFAR without a data directory)
NOT_RUN = "not run"
#: a training claim whose verdict differs between named protocol variants (tuned lr, the
#: released lr, optimizer, scale granularity): :mod:`qopt.reproduce.robustness`
PROTOCOL_DEPENDENT = "protocol-dependent"
STATUSES = (REPRODUCED, REFUTED, INCONCLUSIVE, NOT_RUN, PROTOCOL_DEPENDENT)


@dataclass(frozen=True)
class Verdict:
    """A computed verdict: ``status`` (one of :data:`STATUSES`), the ``rule`` applied (words),
    the ``reason`` (which condition fired, with the numbers) and ``smoke`` (reduced protocol)."""

    status: str
    rule: str
    reason: str
    smoke: bool = False

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    @property
    def label(self) -> str:
        """``status``, with ``(smoke run)`` appended for a reduced protocol."""
        return self.status + (" (smoke run)" if self.smoke else "")

    def to_dict(self) -> dict:
        return {**asdict(self), "label": self.label}

    @classmethod
    def from_dict(cls, d: dict) -> Verdict:
        return cls(d["status"], d["rule"], d["reason"], bool(d.get("smoke", False)))


def _f(x: float, scale: float) -> str:
    return f"{x * scale:.4g}"


def greater(iv: Interval, what: str = "A − B", scale: float = 1.0) -> Verdict:
    """Claim "A > B" from the interval of D = A − B (table in the module docstring)."""
    rule = (f"'{what} > 0' reproduced if the {iv.level:.0%} {iv.method} interval of {what} lies "
            "above 0, refuted if it lies below 0, inconclusive otherwise")
    ci = f"[{_f(iv.lo, scale)}, {_f(iv.hi, scale)}]"
    if iv.lo > 0:
        return Verdict(REPRODUCED, rule, f"interval {ci} > 0")
    if iv.hi < 0:
        return Verdict(REFUTED, rule, f"interval {ci} < 0")
    why = "one seed: no interval" if iv.degenerate == "n=1" else f"interval {ci} contains 0"
    return Verdict(INCONCLUSIVE, rule, why)


def equivalent(iv: Interval, margin: float, what: str = "A − B", scale: float = 1.0) -> Verdict:
    """Claim "A ≈ B within ±margin" from the interval of D = A − B."""
    if not (isinstance(margin, (int, float)) and math.isfinite(margin) and margin > 0):
        raise ValueError(f"margin must be a positive finite number, got {margin!r}")
    d = _f(margin, scale)
    rule = (f"'|{what}| < {d}' reproduced if the {iv.level:.0%} {iv.method} interval of {what} "
            f"lies inside (−{d}, {d}), refuted if it lies wholly outside, inconclusive otherwise")
    ci = f"[{_f(iv.lo, scale)}, {_f(iv.hi, scale)}]"
    if -margin < iv.lo and iv.hi < margin:
        return Verdict(REPRODUCED, rule, f"interval {ci} inside ±{d}")
    if iv.lo > margin or iv.hi < -margin:
        return Verdict(REFUTED, rule, f"interval {ci} outside ±{d}")
    why = "one seed: no interval" if iv.degenerate == "n=1" else f"interval {ci} overlaps ±{d}"
    return Verdict(INCONCLUSIVE, rule, why)


def bonferroni_z(k: int, level: float = 0.95) -> float:
    """Two-sided normal quantile Φ⁻¹(1 − (1 − level)/(2k)) (family-wise ``level`` over k)."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an int >= 1, got {k!r}")
    from scipy.stats import norm

    return float(norm.isf((1.0 - level) / (2.0 * k)))


def _finite(xs: Sequence[float], name: str) -> list[float]:
    v = [float(x) for x in xs]
    if not v:
        raise ValueError(f"{name} is empty")
    if not all(math.isfinite(x) for x in v):
        raise ValueError(f"{name} holds non-finite values")
    return v


def agreement(z_scores: Sequence[float], level: float = 0.95) -> Verdict:
    """Closed form vs Monte Carlo: z = (closed − MC)/SE per check; Bonferroni over K checks."""
    z = _finite(z_scores, "z_scores")
    zs = bonferroni_z(len(z), level)
    worst = max(abs(x) for x in z)
    rule = (f"closed form agrees with Monte Carlo if every |closed − MC|/SE <= z* = {zs:.2f} "
            f"(two-sided, family-wise {level:.0%} over {len(z)} checks, Bonferroni); refuted "
            "otherwise")
    if worst <= zs:
        return Verdict(REPRODUCED, rule, f"max |z| = {worst:.2f} <= {zs:.2f}")
    return Verdict(REFUTED, rule, f"max |z| = {worst:.2f} > {zs:.2f}")


def positive(estimates: Sequence[float], ses: Sequence[float], level: float = 0.95) -> Verdict:
    """Monte Carlo estimates of a quantity claimed > 0 everywhere, with standard errors."""
    est, se = _finite(estimates, "estimates"), _finite(ses, "ses")
    if len(est) != len(se):
        raise ValueError("estimates and ses must have the same length")
    zs = bonferroni_z(len(est), level)
    lower = min(e - zs * s for e, s in zip(est, se))
    upper_min = min(e + zs * s for e, s in zip(est, se))
    rule = (f"'> 0 everywhere' reproduced if every simultaneous lower bound est − {zs:.2f}·SE "
            f"> 0 (family-wise {level:.0%} over {len(est)} points), refuted if some upper bound "
            "est + z*·SE < 0, inconclusive otherwise")
    if lower > 0:
        return Verdict(REPRODUCED, rule, f"smallest lower bound {lower:.3g} > 0")
    if upper_min < 0:
        return Verdict(REFUTED, rule, f"an upper bound {upper_min:.3g} < 0")
    return Verdict(INCONCLUSIVE, rule, f"smallest lower bound {lower:.3g} <= 0 <= every upper "
                                       "bound")


def within(residuals: Sequence[float], tol_reproduce: float, tol_refute: float,
           what: str = "|residual|") -> Verdict:
    """A deterministic number against tolerances: every ``|r| <= tol_reproduce`` reproduces,
    some ``|r| > tol_refute`` refutes, anything between is inconclusive."""
    r = _finite(residuals, "residuals")
    if not 0 <= tol_reproduce <= tol_refute:
        raise ValueError(f"need 0 <= tol_reproduce <= tol_refute, got {tol_reproduce}, "
                         f"{tol_refute}")
    worst = max(abs(x) for x in r)
    rule = (f"reproduced if every {what} <= {tol_reproduce:.3g}, refuted if some {what} > "
            f"{tol_refute:.3g}, inconclusive otherwise")
    if worst <= tol_reproduce:
        return Verdict(REPRODUCED, rule, f"max {what} = {worst:.3g}")
    if worst > tol_refute:
        return Verdict(REFUTED, rule, f"max {what} = {worst:.3g}")
    return Verdict(INCONCLUSIVE, rule, f"max {what} = {worst:.3g}")


def no_violations(violations: int, checked: int, n_min: int, what: str = "steps") -> Verdict:
    """An inequality claimed at every step: ``violations`` among ``checked`` cases; fewer than
    ``n_min`` checked cases is inconclusive (the check would be near vacuous)."""
    for name, v in (("violations", violations), ("checked", checked), ("n_min", n_min)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError(f"{name} must be an int >= 0, got {v!r}")
    if violations > checked:
        raise ValueError(f"violations ({violations}) cannot exceed checked ({checked})")
    rule = (f"reproduced if no violation among >= {n_min} checked {what}, refuted if any "
            "violation beyond rounding, inconclusive if fewer were checked")
    if violations:
        return Verdict(REFUTED, rule, f"{violations} violation(s) among {checked} {what}")
    if checked < n_min:
        return Verdict(INCONCLUSIVE, rule, f"only {checked} {what} checked")
    return Verdict(REPRODUCED, rule, f"0 violations among {checked} {what}")


def combine(parts: Sequence[Verdict], what: str = "parts") -> Verdict:
    """A claim made of parts: reproduced iff all are, refuted iff some part is, not run iff none
    ran, else inconclusive. ``smoke`` if any part is. No parts raises ``ValueError``."""
    parts = list(parts)
    if not parts:
        raise ValueError("combine needs at least one verdict")
    counts = {s: sum(p.status == s for p in parts) for s in STATUSES}
    rule = (f"reproduced if every one of the {len(parts)} {what} is reproduced, refuted if any "
            "is refuted, inconclusive otherwise")
    reason = ", ".join(f"{counts[s]} {s}" for s in STATUSES if counts[s])
    if counts[REFUTED]:
        status = REFUTED
    elif counts[PROTOCOL_DEPENDENT]:
        status = PROTOCOL_DEPENDENT
    elif counts[NOT_RUN] == len(parts):
        status = NOT_RUN
    elif counts[REPRODUCED] == len(parts):
        status = REPRODUCED
    else:
        status = INCONCLUSIVE
    return Verdict(status, rule, reason, any(p.smoke for p in parts))


def smoke(v: Verdict, is_smoke: bool = True) -> Verdict:
    """``v`` marked as coming from a reduced (smoke) protocol."""
    return replace(v, smoke=bool(is_smoke) or v.smoke)
