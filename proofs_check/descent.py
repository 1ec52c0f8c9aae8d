r"""BCGD's sufficient-descent inequality, checked on random quadratics (numpy, theory.project).

Claim (derived here, ``docs/math/bcgd.md#sufficient-descent``; the BCGD paper, Yin et al. 2019a, is
recalled to prove a "sufficient descent property", not verified: its statement and constants were
not checked against the paper's text): for f with L-Lipschitz gradient, any closed Q with an exact
projection, :math:`\rho \in [0, 1]`, :math:`\eta > 0`, and the BCGD iteration

.. math::

    u_t = P_Q(w_t), \qquad w_{t+1} = (1-\rho)w_t + \rho u_t - \eta\nabla f(u_t),

every step satisfies

.. math::

    f(u_{t+1}) \le f(u_t) - \Big(\frac{\rho}{2\eta} - \frac L2\Big)\|u_{t+1} - u_t\|^2 .

*Proof sketch* (derived here; ``docs/math/bcgd.md#derivation``): optimality of :math:`u_{t+1}` for
:math:`w_{t+1}` against the candidate :math:`u_t` gives :math:`\|\Delta\|^2 \le
2\langle(1-\rho)(w_t-u_t) - \eta\nabla f(u_t), \Delta\rangle`; optimality of :math:`u_t` for
:math:`w_t` gives :math:`2\langle w_t-u_t,\Delta\rangle \le \|\Delta\|^2`; so :math:`\langle\nabla
f(u_t),\Delta \rangle \le -\frac{\rho}{2\eta}\|\Delta\|^2`, and the descent lemma adds
:math:`\frac L2\|\Delta\|^2`. It holds for every η (for η < ρ/L it is a descent).

The check runs the iteration on :math:`f(u) = \tfrac12 u^\top A u - b^\top u` (A random PSD,
L = λ_max(A)) with binary and ternary Q and counts violations beyond rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from proofs_check.claims import Outcome, claim
from theory.projection import project
from theory.sets import Binary, QuantSet, Ternary

__all__ = ["DescentStats", "bcgd_descent_check", "sufficient_descent"]


@dataclass(frozen=True)
class DescentStats:
    """Result of :func:`bcgd_descent_check`.

    Attributes:
        steps: iterations run. violations: steps where the inequality failed beyond rounding.
        worst: max over steps of [f(u_{t+1}) − f(u_t) + (ρ/(2η) − L/2)‖Δ‖²] / (1 + |f(u_t)|)
            (≤ 0 up to rounding when the inequality holds).
        moved: steps with u_{t+1} ≠ u_t (where the inequality is not vacuous).
    """

    steps: int
    violations: int
    worst: float
    moved: int


def bcgd_descent_check(A: np.ndarray, b: np.ndarray, qset: QuantSet, rho: float, eta: float,
                       w0: np.ndarray, steps: int, tol: float = 1e-10) -> DescentStats:
    """Run ``steps`` BCGD iterations on f(u) = ½uᵀAu − bᵀu from ``w0``; count the steps where
    the sufficient-descent inequality fails by more than ``tol·(1 + |f(u_t)| + L‖Δ‖²)``.

    Raises:
        ValueError: A not square symmetric, shapes mismatch, rho outside [0, 1], eta <= 0.
    """
    A = np.asarray(A, dtype=np.float64)
    n = A.shape[0]
    if A.shape != (n, n) or not np.allclose(A, A.T):
        raise ValueError(f"A must be a symmetric square matrix, got shape {A.shape}")
    if np.shape(b) != (n,) or np.shape(w0) != (n,):
        raise ValueError(f"b and w0 must have shape ({n},)")
    if not 0.0 <= rho <= 1.0:
        raise ValueError(f"rho must lie in [0, 1], got {rho}")
    if not eta > 0:
        raise ValueError(f"eta must be > 0, got {eta}")
    L = float(np.linalg.eigvalsh(A)[-1])

    def f(u: np.ndarray) -> float:
        return 0.5 * float(u @ A @ u) - float(b @ u)

    w = np.asarray(w0, dtype=np.float64).copy()
    u = project(w, qset).q
    viol, worst, moved = 0, -np.inf, 0
    coef = rho / (2 * eta) - L / 2
    for _ in range(steps):
        w = (1 - rho) * w + rho * u - eta * (A @ u - b)
        u_next = project(w, qset).q
        d2 = float((u_next - u) @ (u_next - u))
        fu = f(u)
        gap = f(u_next) - fu + coef * d2
        scale = 1 + abs(fu) + L * d2 + abs(coef) * d2
        worst = max(worst, gap / (1 + abs(fu)))
        if gap > tol * scale:
            viol += 1
        moved += int(d2 > 0)
        u = u_next
    return DescentStats(steps, viol, float(worst), moved)


def sufficient_descent(seed: int = 4, trials: int = 40, steps: int = 60) -> DescentStats:
    """Random quadratics (n in 5..40, A = GᵀG/n + 1e-3·I), binary and ternary Q alternately,
    ρ in {1e-3, 0.05, 0.3, 1}, η = ρ/L × {0.1, 0.5, 0.99, 2, 10} (below and above ρ/L);
    returns the totals over all trials."""
    rng = np.random.default_rng(seed)
    total = viol = moved = 0
    worst = -np.inf
    for k in range(trials):
        n = int(rng.integers(5, 41))
        G = rng.standard_normal((n, n))
        A = G.T @ G / n + 1e-3 * np.eye(n)
        b = rng.standard_normal(n) * 2
        L = float(np.linalg.eigvalsh(A)[-1])
        rho = float(rng.choice([1e-3, 0.05, 0.3, 1.0]))
        eta = float(rho / L * rng.choice([0.1, 0.5, 0.99, 2.0, 10.0]))
        qset = (Binary(), Ternary())[k % 2]
        st = bcgd_descent_check(A, b, qset, rho, eta, rng.standard_normal(n), steps)
        total, viol, moved = total + st.steps, viol + st.violations, moved + st.moved
        worst = max(worst, st.worst)
    return DescentStats(total, viol, float(worst), moved)


@claim("bcgd_sufficient_descent",
       "BCGD: f(u_{t+1}) <= f(u_t) - (rho/(2 eta) - L/2) ||u_{t+1} - u_t||^2 for exact P_Q",
       "derived here (docs/math/bcgd.md#sufficient-descent); the BCGD paper's (Yin et al. "
       "2019a) sufficient-descent theorem is from memory, not checked against its text",
       "random quadratics (binary, ternary Q)")
def _claim_descent() -> Outcome:
    st = sufficient_descent()
    return Outcome(st.violations == 0 and st.moved > 0, st.worst,
                   "max [f(u+) - f(u) + (rho/2eta - L/2)||du||^2] / (1+|f(u)|); holds <= ~0 "
                   "(violations counted beyond 1e-10 relative)",
                   f"{st.steps} steps over 40 quadratics ({st.moved} with u moving), "
                   f"{st.violations} violations")
