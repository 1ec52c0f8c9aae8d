r"""BCGD on the two-linear-layer Gaussian model with a certified curvature bound per step.

Setting of the sufficient-descent theorem (BCGD, Yin et al., Res. Math. Sci. 2019; constants
re-derived in :mod:`proofs_check.descent`): the exact gradient ∇f of the population loss
:math:`f(v, w)` of :class:`theory.twolayer.TwoLayerTeacher` (Lemma 2 of the STE paper), an exact
projection onto :math:`Q = Q_v\times Q_w` (one scale per tensor), and the iteration

.. math::

    u_t = P_Q(x_t),\qquad x_{t+1} = (1-\rho)x_t + \rho u_t - \eta\nabla f(u_t).

The theorem gives :math:`f(u_{t+1}) \le f(u_t) - (\frac{\rho}{2\eta} - \frac L2)\|u_{t+1}-u_t\|^2`
whenever ∇f is L-Lipschitz on the segment :math:`[u_t, u_{t+1}]`, a descent when η < ρ/L.

**Curvature bound on a segment (derived here).** With Lemma 1,
:math:`f = C(v) + \theta(w)\,v^\top v^*/(2\pi)` where C is quadratic with Hessian
:math:`\frac14(I + 11^\top)` (norm (m+1)/4). With r = ‖w‖ and θ = ∠(w, w\*),
:math:`\|\nabla\theta\| = 1/r` and the Hessian of θ has eigenvalues ±1/r² in the plane of
(w, w\*) and cot θ / r² in the n − 2 orthogonal directions (reflection symmetry removes the
mixed terms), so :math:`\|\nabla^2\theta\| = \max(1, |\cot\theta|)/r^2`. The block bound
:math:`\|[[A, B], [B^\top, C]]\| \le \max(\|A\|, \|C\|) + \|B\|` gives

.. math::

    \|\nabla^2 f\| \le \max\Big(\frac{m+1}4,\ \frac{|v^\top v^*|}{2\pi}
    \frac{\max(1, |\cot\theta|)}{r^2}\Big) + \frac{\|v^*\|}{2\pi r}.

On a segment, :math:`|v^\top v^*|` is at most its larger end value (it is linear),
r ≥ the distance from 0 to the w-segment, and
:math:`|\cot\theta| = |w^\top u|/\|w_\perp\|` ≤ (larger end value of :math:`|w^\top u|`) / (the
distance from 0 to the segment of :math:`w_\perp = w - (w^\top u)u`). The product of these
suprema bounds the supremum of the Hessian norm: :func:`segment_curvature` returns it (+inf when
the segment meets w = 0 or θ ∈ {0, π}, where f is not differentiable). The tests check it
against finite-difference Hessians.

**θ ≈ 0 in floating point (derived here).** θ = 0 is rarely hit exactly: for w = 2u the computed
:math:`w_\perp = w - (w^\top u)u` has norm ~1e-16, not 0, and the bound above would be a finite
~1e13 at a point where f has a kink. Both distances are therefore replaced by certified lower
bounds. With the unit roundoff ε = 2⁻⁵³, γ_n = nε/(1 − nε) (Higham, *Accuracy and Stability of
Numerical Algorithms*, 2nd ed., §3.1) and M = max(‖w_a‖, ‖w_b‖): fl(wᵀu) errs by at most
γ_n‖w‖‖u‖; the scaling by u and the subtraction add 2ε‖w‖; the stored u = y/‖y‖ has
|‖u‖² − 1| ≤ γ_{n+2}, which moves w_⊥ by at most γ_{n+2}‖w‖ against the exact unit direction;
the segment distance (the clipped minimiser s has relative error γ_n, the point a + s·d is
evaluated with 3ε(‖a‖ + ‖b‖), the norm with γ_n) adds (2n + 4)ε·2M. Summed, to first order in
ε, that is (3n + 6)ε·2M; with slack for the higher-order terms, each computed distance is within

.. math::

    e = (4n + 16)\,\varepsilon\cdot 2M

of the exact one, so :math:`r - e` and :math:`\|w_\perp\|_{seg} - e` are lower bounds and the
bound is +inf when either is ≤ 0. Along the segment sin θ = ‖w_⊥‖/‖w‖ ≥ dist(w_⊥)/M (w_⊥ is
linear in w), so a point with sin θ ≤ :data:`theory.twolayer.KINK_TOL`, where
:class:`~theory.twolayer.TwoLayerTeacher` itself snaps θ to 0 or π (its loss and gradient treat
it as the kink), can lie on it only if dist(w_⊥) ≤ KINK_TOL·M: the bound is +inf there too.
The factor (1 − e/dist)⁻¹ this puts on finite bounds is 1 + O(1e-14) away from the kink.

A step counts as **covered** by the theorem when u moved and η < ρ / L_t with L_t this bound;
only covered steps can violate the theorem. The projection half of the proof,
:math:`\langle\nabla f(u_t), u_{t+1}-u_t\rangle \le -\frac{\rho}{2\eta}\|u_{t+1}-u_t\|^2`, holds
for every step and every η and is counted separately.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from theory.projection import project
from theory.sets import QuantSet
from theory.twolayer import KINK_TOL

__all__ = ["DescentCounts", "bcgd_twolayer", "hessian_bound", "segment_curvature"]

_UNIT_ROUNDOFF = 2.0 ** -53  # ε of float64 (half the machine epsilon)


def _seg_dist(a: np.ndarray, b: np.ndarray) -> float:
    """Distance from 0 to the segment [a, b]."""
    d = b - a
    dd = float(d @ d)
    s = 0.0 if dd == 0.0 else min(1.0, max(0.0, -float(a @ d) / dd))
    return float(np.linalg.norm(a + s * d))


def hessian_bound(teacher, v: np.ndarray, w: np.ndarray) -> float:  # noqa: ANN001
    """The pointwise bound of ‖∇²f(v, w)‖ (module docstring); +inf at θ ∈ {0, π} or w = 0."""
    return segment_curvature(teacher, v, w, v, w)


def segment_curvature(teacher, va: np.ndarray, wa: np.ndarray,  # noqa: ANN001
                      vb: np.ndarray, wb: np.ndarray) -> float:
    """Upper bound of ‖∇²f‖ over the segment from (va, wa) to (vb, wb) (module docstring)."""
    u, vs = teacher.u, teacher.v_star
    big_w = max(float(np.linalg.norm(wa)), float(np.linalg.norm(wb)))
    err = (4 * teacher.n + 16) * _UNIT_ROUNDOFF * 2.0 * big_w  # module docstring: θ ≈ 0
    r = _seg_dist(wa, wb) - err
    pa, pb = wa - float(wa @ u) * u, wb - float(wb @ u) * u
    perp_dist = _seg_dist(pa, pb)
    perp = perp_dist - err
    if r <= 0.0 or perp <= 0.0 or perp_dist <= KINK_TOL * big_w:
        return float("inf")
    big_v = max(abs(float(va @ vs)), abs(float(vb @ vs)))
    cot = max(abs(float(wa @ u)), abs(float(wb @ u))) / perp
    if teacher.n == 2:
        cot = 0.0  # no direction orthogonal to the plane of (w, w*)
    hww = big_v / (2.0 * np.pi) * max(1.0, cot) / (r * r)
    return max((teacher.m + 1) / 4.0, hww) + float(np.linalg.norm(vs)) / (2.0 * np.pi * r)


@dataclass(frozen=True)
class DescentCounts:
    """Counts over a BCGD run (or a sum of runs).

    Attributes:
        steps: iterations. moved: steps with u_{t+1} ≠ u_t. covered: moved steps with
        η < ρ/L_t. violations: covered steps where the theorem's inequality failed beyond
        rounding. projection_violations: steps (any) where the projection inequality failed.
        increases: steps where f(u_{t+1}) > f(u_t) beyond rounding (covered or not).
        worst: max over covered steps of [f(u+) − f(u) + (ρ/2η − L/2)‖Δ‖²] / (1 + |f(u)|).
    """

    steps: int = 0
    moved: int = 0
    covered: int = 0
    violations: int = 0
    projection_violations: int = 0
    increases: int = 0
    worst: float = float("-inf")

    def __add__(self, o: DescentCounts) -> DescentCounts:
        return DescentCounts(self.steps + o.steps, self.moved + o.moved,
                             self.covered + o.covered, self.violations + o.violations,
                             self.projection_violations + o.projection_violations,
                             self.increases + o.increases, max(self.worst, o.worst))


def bcgd_twolayer(teacher, qset_v: QuantSet | None, qset_w: QuantSet, rho: float,  # noqa: ANN001
                  eta: float, v0: np.ndarray, w0: np.ndarray, steps: int,
                  tol: float = 1e-10) -> DescentCounts:
    """Run BCGD with the exact gradient on the two-layer model (``qset_v=None``: v float) and
    count the theorem's outcomes (:class:`DescentCounts`). Tolerance: a failure must exceed
    ``tol·(1 + |f| + (L + ρ/η)‖Δ‖²)`` (float64 rounding of the terms compared)."""
    if not 0.0 < rho <= 1.0 or not eta > 0.0:
        raise ValueError(f"need 0 < rho <= 1 and eta > 0, got rho={rho}, eta={eta}")

    def proj(x: np.ndarray, q: QuantSet | None) -> np.ndarray:
        return x.copy() if q is None else project(x, q).q

    xv, xw = np.asarray(v0, float).copy(), np.asarray(w0, float).copy()
    uv, uw = proj(xv, qset_v), proj(xw, qset_w)
    c = DescentCounts()
    moved = covered = viol = pviol = inc = 0
    worst = float("-inf")
    for _ in range(steps):
        gv, gw = teacher.grad(uv, uw)
        xv = (1.0 - rho) * xv + rho * uv - eta * gv
        xw = (1.0 - rho) * xw + rho * uw - eta * gw
        nv, nw = proj(xv, qset_v), proj(xw, qset_w)
        dv, dw = nv - uv, nw - uw
        d2 = float(dv @ dv + dw @ dw)
        f0, f1 = teacher.loss(uv, uw), teacher.loss(nv, nw)
        inner = float(gv @ dv + gw @ dw)
        scale0 = 1.0 + abs(f0)
        if inner + rho / (2.0 * eta) * d2 > tol * (scale0 + rho / eta * d2):
            pviol += 1
        if f1 - f0 > tol * scale0:
            inc += 1
        if d2 > 0.0:
            moved += 1
            lip = segment_curvature(teacher, uv, uw, nv, nw)
            if eta * lip < rho:
                covered += 1
                gap = f1 - f0 + (rho / (2.0 * eta) - lip / 2.0) * d2
                worst = max(worst, gap / scale0)
                if gap > tol * (scale0 + (lip + rho / eta) * d2):
                    viol += 1
        uv, uw = nv, nw
        if not np.any(uw):
            break
    return c + DescentCounts(steps, moved, covered, viol, pviol, inc, worst)
