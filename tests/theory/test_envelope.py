"""Moreau envelope, BinaryRelax prox and envelope gradient: closed forms vs numerics.

Tolerances: the prox objective is compared through its value (minimisers may differ only where
the objective is flat); 1e-9 relative covers Nelder-Mead's xatol/fatol of 1e-12 on O(1) data.
Finite differences use h = 1e-6 (central): truncation O(h^2) vanishes for a piecewise quadratic
away from ties, rounding ~eps*f/h ~ 1e-10, so 1e-6 relative is a wide margin.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize, minimize_scalar

from tests.theory.strategies import SYMMETRIC_CONES, any_weights, gaussian_weights, set_id
from theory import (
    Binary,
    Grid,
    Symmetric,
    Ternary,
    Uniform,
    dist2,
    envelope_grad,
    moreau_envelope,
    project,
    prox,
)

LAMS = st.sampled_from([0.05, 0.5, 1.0, 3.0, 20.0])
SETS_1D = [Grid([-1, 0, 1], scale=0.7), Uniform(3, scale=0.5), Binary(scale=1.0),
           Grid([-1.5, 0.25, 2], scale=1.0)]
SETS_2D = [Binary(), Ternary(), Uniform(3), Symmetric(2), Grid([1, 2, 4], None),
           Grid([-1, 0, 1], scale=0.7)]


def objective(u, w, qset, lam) -> float:
    return 0.5 * float(np.sum((u - w) ** 2)) + 0.5 * lam * dist2(np.asarray(u, float), qset)


def grid_objective(U: np.ndarray, w: np.ndarray, qset, lam: float) -> np.ndarray:
    """Objective at every row of U (M, n): one vectorised projection per row (axis=0)."""
    d = project(U, qset, axis=0).dist2
    return 0.5 * np.sum((U - w) ** 2, axis=1) + 0.5 * lam * d


@pytest.mark.parametrize("qset", SETS_1D, ids=set_id)
@given(w=st.floats(-3, 3), lam=LAMS)
def test_prox_equals_1d_brute_force(qset, w, lam):
    """n = 1: a 20001-point grid over u, then a bounded scalar refinement at the best point."""
    grid = np.linspace(-6, 6, 20001)
    vals = grid_objective(grid[:, None], np.array([w]), qset, lam)
    u0 = grid[int(np.argmin(vals))]
    res = minimize_scalar(lambda u: objective(np.array([u]), np.array([w]), qset, lam),
                          bounds=(u0 - 1e-3, u0 + 1e-3), method="bounded",
                          options={"xatol": 1e-12})
    p = prox(np.array([w]), qset, lam)
    best = min(res.fun, vals.min())
    assert objective(p, np.array([w]), qset, lam) <= best + 1e-9 * (1 + best)


@pytest.mark.parametrize("qset", SETS_2D, ids=set_id)
@settings(max_examples=8)
@given(seed=st.integers(0, 2**31), lam=LAMS)
def test_prox_equals_grid_and_local_minimisation_2d(qset, seed, lam):
    """n = 2 (non-convex objective): a 61x61 grid around w, then Nelder-Mead from each of the
    three best grid points; the closed form must be at least as good. (The grid is evaluated
    with the plain row-by-row reference projection, ~0.3 ms a row: 61x61 keeps an example near
    one second; the Nelder-Mead starts make up for the coarser grid.)"""
    w = np.random.default_rng(seed).standard_normal(2)
    p = prox(w, qset, lam)
    f_p = objective(p, w, qset, lam)
    a = np.linspace(-3, 3, 61)
    U = w + np.stack(np.meshgrid(a, a, indexing="ij"), axis=-1).reshape(-1, 2)
    vals = grid_objective(U, w, qset, lam)
    starts = U[np.argsort(vals, kind="stable")[:3]]
    local = [minimize(objective, u0, args=(w, qset, lam), method="Nelder-Mead",
                      options={"xatol": 1e-12, "fatol": 1e-12}).fun for u0 in starts]
    best = min(min(local), vals.min())
    assert f_p <= best + 1e-9 * (1 + best)
    assert f_p >= best - 0.05 * (1 + best)  # and the grid is fine enough to come close


@pytest.mark.parametrize("qset", SETS_2D + [Uniform(4), Symmetric(3)], ids=set_id)
@settings(max_examples=25)
@given(w=st.one_of(any_weights(1, 30), gaussian_weights(1, 200)), lam=LAMS)
def test_prox_keeps_the_projection(qset, w, lam):
    """P_Q(prox(w)) = P_Q(w): the relaxed point moves along the segment towards P_Q(w)."""
    r = project(w, qset)
    rp = project(prox(w, qset, lam), qset)
    scale = np.max(np.abs(w))
    assert abs(rp.dist2 - r.dist2 / (1 + lam) ** 2) <= 1e-10 * np.sum(w**2) + 1e-300
    np.testing.assert_allclose(rp.q, r.q, rtol=1e-9, atol=1e-9 * scale)


@pytest.mark.parametrize("qset", SETS_2D + [Uniform(4), Grid([-1, 2], None)], ids=set_id)
@settings(max_examples=15)
@given(w=gaussian_weights(2, 40), lam=LAMS)
def test_envelope_grad_equals_central_differences(qset, w, lam):
    g = envelope_grad(w, qset, lam)
    h = 1e-6
    fd = np.empty_like(w)
    for i in range(w.size):
        e = np.zeros_like(w)
        e[i] = h
        fd[i] = (moreau_envelope(w + e, qset, lam) - moreau_envelope(w - e, qset, lam)) / (2 * h)
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-6 * lam * (1 + np.max(np.abs(w))))


@pytest.mark.parametrize("qset", SETS_2D, ids=set_id)
@settings(max_examples=20)
@given(w=any_weights(1, 20))
def test_envelope_increases_to_the_indicator(qset, w):
    lams = [0.01, 0.1, 1.0, 10.0, 1e3, 1e6]
    env = [moreau_envelope(w, qset, lam) for lam in lams]
    d = dist2(w, qset)
    assert all(b >= a for a, b in zip(env, env[1:]))  # nondecreasing in lambda
    if d > 1e-9 * np.sum(w**2):  # w not in Q: the envelope grows without bound
        assert env[-1] >= 1e5 * env[0]
    q = project(w, qset).q  # on Q the envelope is 0 for every lambda
    assert max(moreau_envelope(q, qset, lam) for lam in lams) <= 1e6 * 1e-12 * np.sum(w**2) + 1e-300


@pytest.mark.parametrize("qset", SYMMETRIC_CONES, ids=set_id)
@settings(max_examples=20)
@given(w=gaussian_weights(1, 50), lam=LAMS)
def test_envelope_is_the_infimum(qset, w, lam):
    """e(w) <= (lam/2)||w - x||^2 for feasible x (random codes, scales), with equality at P(w)."""
    rng = np.random.default_rng(w.size)
    env = moreau_envelope(w, qset, lam)
    for _ in range(20):
        x = rng.uniform(0, 2) * qset.levels[rng.integers(0, qset.n_levels, w.size)]
        assert env <= 0.5 * lam * np.sum((w - x) ** 2) + 1e-12 * np.sum(w**2)
    assert env == pytest.approx(0.5 * lam * np.sum((w - project(w, qset).q) ** 2), rel=1e-12)


def test_axis_sums_over_slices(rng):
    w = rng.standard_normal((4, 30))
    per = project(w, Ternary(), axis=0).dist2
    assert dist2(w, Ternary(), axis=0) == pytest.approx(float(np.sum(per)), rel=1e-14)
    assert moreau_envelope(w, Ternary(), 2.0, axis=0) == pytest.approx(float(np.sum(per)))
    p = prox(w, Ternary(), 2.0, axis=0)
    np.testing.assert_allclose(p, (w + 2.0 * project(w, Ternary(), axis=0).q) / 3.0)
    g = envelope_grad(w, Ternary(), 2.0, axis=1)
    np.testing.assert_allclose(g, 2.0 * (w - project(w, Ternary(), axis=1).q))
