r"""Claims about quantization sets: exact projection, cone orthogonality, the BinaryRelax prox.

Each check compares :mod:`theory` with an independent oracle: :mod:`proofs_check.brute`
(enumeration of every code vector, no sweep and no tie rule) and, for the prox, a derivative-free
numerical minimisation of its objective.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

from proofs_check.brute import brute_dist2
from proofs_check.claims import Outcome, claim
from theory.envelope import prox
from theory.projection import project
from theory.sets import Binary, Grid, QuantSet, Symmetric, Ternary, Uniform

__all__ = ["SETS_UNDER_TEST", "cone_orthogonality", "projection_exact", "prox_closed_form"]

SETS_UNDER_TEST: tuple[QuantSet, ...] = (
    Binary(), Ternary(), Uniform(3), Symmetric(2), Grid([-4, -2, -1, 0, 1, 2, 4], None),
    Grid([-1, 0, 1]), Uniform(3, 0.5), Grid([-1.0, 0.5, 3.0], scale=2.0),
)
CONES = tuple(s for s in SETS_UNDER_TEST if s.is_cone)


def _inputs(rng: np.random.Generator, n: int) -> list[np.ndarray]:
    """Gaussian, heavy-tailed, integer (ties) and half-integer (fixed-grid thresholds) inputs."""
    return [rng.standard_normal(n), rng.standard_cauchy(n), rng.integers(-3, 4, n).astype(float),
            rng.integers(-6, 7, n) / 2.0, np.zeros(n)]


@claim("projection_exact",
       "theory.project attains min_{a>=0, z in L^n} ||w - a z||^2 (per tensor and per slice)",
       "binary mean|w|: released BinaryRelax/BCGD code quantize_bw; ternary top-t scan and the "
       "sweep: derived here (docs/math/quantization-sets.md#projection)", "brute force")
def projection_exact() -> Outcome:
    """|dist2(project) − dist2(brute force)| over 8 sets × n = 1..6 (at most 5000 codes) × 5
    input kinds × 6 seeds,
    plus per-slice (axis=0) projections of 3×4 inputs slice by slice; bound 1e-12·(1 + ||w||²)."""
    rng = np.random.default_rng(1)
    worst, cases = 0.0, 0
    for qset in SETS_UNDER_TEST:
        n_max = min(6, int(np.log(5000) / np.log(qset.n_levels)))  # <= 5000 codes per case
        for n in range(1, n_max + 1):
            for _ in range(6):
                for w in _inputs(rng, n):
                    d_fast = project(w, qset).dist2
                    worst = max(worst, abs(d_fast - brute_dist2(w, qset)) / (1 + w @ w))
                    cases += 1
        w2 = rng.standard_normal((3, 4)) * np.array([[1e-3], [1.0], [50.0]])
        d_rows = project(w2, qset, axis=0).dist2
        for i in range(3):
            worst = max(worst, abs(d_rows[i] - brute_dist2(w2[i], qset)) / (1 + w2[i] @ w2[i]))
            cases += 1
    return Outcome(worst <= 1e-12, worst, "max |dist2 - brute| / (1 + ||w||^2); holds <= 1e-12",
                   f"{cases} cases")


@claim("cone_orthogonality",
       "for a free-scale set (a cone): <w - P(w), P(w)> = 0 and dist^2 = ||w||^2 - ||P(w)||^2",
       "derived here: first-order condition of the scale "
       "(docs/math/quantization-sets.md#cone-facts)", "random inputs")
def cone_orthogonality() -> Outcome:
    """max |<w-P(w), P(w)>| / ||w||² and the Pythagoras residual over the cones of
    SETS_UNDER_TEST, n in {1, 7, 64, 1000}, per tensor and per slice; bound 1e-12."""
    rng = np.random.default_rng(2)
    worst, cases = 0.0, 0
    for qset in CONES:
        for n in (1, 7, 64, 1000):
            for w in _inputs(rng, n)[:4] + [rng.standard_normal((4, n)) * 10.0 ** rng.integers(
                    -3, 3, (4, 1))]:
                axis = None if w.ndim == 1 else 0
                p = project(w, qset, axis)
                rows = w.reshape(1, -1) if axis is None else w
                qs = p.q.reshape(rows.shape)
                n2 = np.maximum(np.sum(rows * rows, 1), np.finfo(float).tiny)
                ip = np.abs(np.sum((rows - qs) * qs, 1)) / n2
                pyth = np.abs(np.atleast_1d(p.dist2) - (np.sum(rows**2, 1)
                                                          - np.sum(qs**2, 1))) / n2
                worst = max(worst, float(ip.max()), float(pyth.max()))
                cases += 1
    return Outcome(worst <= 1e-12, worst,
                   "max(|<w-q,q>|, |dist2 - (||w||^2 - ||q||^2)|) / ||w||^2; holds <= 1e-12",
                   f"{cases} inputs, {len(CONES)} cones")


def _objective(u: np.ndarray, w: np.ndarray, qset: QuantSet, lam: float) -> float:
    return 0.5 * float((u - w) @ (u - w)) + 0.5 * lam * brute_dist2(u, qset)


@claim("prox_closed_form",
       "argmin_u 1/2||u-w||^2 + lam/2 dist(u,Q)^2 = (w + lam P(w))/(1+lam), and P(prox(w)) = P(w)",
       "BinaryRelax relaxed point (Yin et al. 2018); closed form derived here "
       "(docs/math/binaryrelax.md#prox-proof, theory/envelope.py)",
       "numerical minimisation (Nelder-Mead, brute-force dist)")
def prox_closed_form() -> Outcome:
    """For 5 sets, n in {2, 3}, lam in {0.3, 1, 5}: Nelder-Mead from 6 starts (w, 0, random)
    on the objective with the brute-force distance must not beat theory.prox by more than 1e-9
    (relative), and P(prox(w)) = P(w)."""
    rng = np.random.default_rng(3)
    sets = (Binary(), Ternary(), Uniform(3), Grid([-1, 0, 1]), Symmetric(1))
    worst_gain, worst_inv, cases = 0.0, 0.0, 0
    for qset in sets:
        for n in (2, 3):
            for lam in (0.3, 1.0, 5.0):
                w = rng.standard_normal(n) * 1.5
                u_star = prox(w, qset, lam)
                f_star = _objective(u_star, w, qset, lam)
                starts = [w, np.zeros(n)] + [rng.standard_normal(n) * 2 for _ in range(4)]
                best = min(minimize(_objective, s, args=(w, qset, lam), method="Nelder-Mead",
                                    options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 4000}).fun
                           for s in starts)
                worst_gain = max(worst_gain, (f_star - best) / (1 + abs(f_star)))
                inv = np.max(np.abs(project(u_star, qset).q - project(w, qset).q))
                worst_inv = max(worst_inv, float(inv) / (1 + np.max(np.abs(w))))
                cases += 1
    fig = max(worst_gain, worst_inv)
    return Outcome(fig <= 1e-9, fig,
                   "max(F(prox) - min_NM F, |P(prox(w)) - P(w)|) relative; holds <= 1e-9",
                   f"{cases} cases; worst NM gain {worst_gain:.2e}, worst invariance "
                   f"{worst_inv:.2e}")
