"""theory.project against an independent brute force, plus the cone identities.

Tolerance for squared distances: 1e-12 * (||w||^2 + tiny). Both sides sum at most a few thousand
float64 squares and divide once for the scale, so their rounding is ~n*eps*||w||^2 < 1e-13 ||w||^2;
1e-12 leaves a margin yet is far below any wrong code at ordinary magnitudes (a wrong code moves
dist^2 by at least (gap*alpha)^2/4-ish, i.e. O(1) relative). Entries ~1e-8 next to entries ~1e8
are below float64 resolution for either side and cannot be judged by any float64 check.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.theory.strategies import (
    ALL_SETS,
    FREE_SETS,
    SYMMETRIC_CONES,
    any_weights,
    brute_force,
    gaussian_weights,
    max_n,
    set_id,
    tie_weights,
)
from theory import Binary, Grid, Symmetric, Ternary, Uniform, nearest_codes, project
from theory.projection import code_dtype

TINY = 1e-300


def tol(w: np.ndarray, q: np.ndarray | None = None) -> float:
    """1e-12 (||w||^2 + ||q||^2): bounds the rounding of sum (w_i - q_i)^2 (a fixed scale can
    put q far from w, so ||q|| enters)."""
    w = np.asarray(w, dtype=np.float64)
    qq = 0.0 if q is None else float(np.sum(np.asarray(q, dtype=np.float64) ** 2))
    return 1e-12 * (float(np.sum(w**2)) + qq + TINY)


def check_result(w: np.ndarray, qset, r) -> None:
    """q = scale*levels[codes] exactly, same shape/dtype, dist2 = ||w-q||^2, scale >= 0."""
    assert r.q.shape == w.shape and r.q.dtype == w.dtype
    assert r.codes.shape == w.shape and r.codes.dtype == code_dtype(qset.n_levels)
    assert np.all((r.codes >= 0) & (r.codes < qset.n_levels))
    assert np.all(np.asarray(r.scale) >= 0)
    if qset.scale is not None:
        assert np.all(np.asarray(r.scale) == qset.scale)
    np.testing.assert_array_equal(r.q, (r.scale * qset.levels[r.codes]).astype(w.dtype))
    assert abs(r.dist2 - float(np.sum((w - r.q) ** 2))) <= tol(w, r.q)


# -- brute force, per tensor -------------------------------------------------------------------
EDGE_CASES = [
    np.array([0.0]),
    np.array([0.0, 0.0, 0.0]),
    np.array([-2.5]),
    np.array([1.0, 1.0, 1.0, 1.0]),
    np.array([-1.0, 1.0, -1.0, 1.0]),
    np.array([0.5, 1.5, 2.5, -0.5]),  # on midpoints of the integer grids
    np.array([1.0, 2.0, 3.0, 0.0]),  # on midpoints of the half-integer grids
    np.array([1e-8, -1e8, 3e3, 0.0]),
    np.array([3.0, 1.0, 1.0, 0.0, -1.0]),
    np.array([2.0, 1.0, 1.0]),  # ternary: equal magnitudes at the cut
]


@pytest.mark.parametrize("qset", ALL_SETS, ids=set_id)
@pytest.mark.parametrize("w", EDGE_CASES, ids=lambda w: str(w.tolist()))
def test_project_equals_brute_force_on_edge_cases(qset, w):
    w = w[: max_n(qset)]
    r = project(w, qset)
    check_result(w, qset, r)
    assert abs(r.dist2 - brute_force(w, qset)) <= tol(w, r.q)


@pytest.mark.parametrize("qset", ALL_SETS, ids=set_id)
@settings(max_examples=40)
@given(data=st.data())
def test_project_equals_brute_force(qset, data):
    w = data.draw(any_weights(1, max_n(qset)), label="w")
    r = project(w, qset)
    check_result(w, qset, r)
    assert abs(r.dist2 - brute_force(w, qset)) <= tol(w, r.q)


# -- per slice (axis) ----------------------------------------------------------------------------
@pytest.mark.parametrize("qset", [Ternary(), Uniform(3), Symmetric(2), Grid([1, 2, 4], None),
                                  Grid([-1, 2], None), Binary(), Grid([-1, 0, 1], 0.3)], ids=set_id)
@pytest.mark.parametrize("shape,axis", [((3, 2), 0), ((2, 3), 1), ((2, 3), -1), ((2, 1, 3), 0),
                                        ((3, 2, 1), -2), ((1, 4), 0)])
@settings(max_examples=8)
@given(seed=st.integers(0, 2**31), ties=st.booleans())
def test_project_axis_equals_brute_force_per_slice(qset, shape, axis, seed, ties):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(shape)
    if ties:
        w = np.round(w * 2) / 2  # dyadic: exact ties and zeros
    r = project(w, qset, axis=axis)
    ax = axis % w.ndim
    C = w.shape[ax]
    assert np.shape(r.scale) == (C,) and np.shape(r.dist2) == (C,)
    assert r.q.shape == w.shape and r.codes.shape == w.shape
    rows = np.moveaxis(w, ax, 0).reshape(C, -1)
    qrows = np.moveaxis(r.q, ax, 0).reshape(C, -1)
    crows = np.moveaxis(r.codes, ax, 0).reshape(C, -1)
    for c in range(C):  # test-side loop over a handful of slices
        np.testing.assert_array_equal(qrows[c], r.scale[c] * qset.levels[crows[c]])
        assert abs(r.dist2[c] - brute_force(rows[c], qset)) <= tol(rows[c], qrows[c])
        assert abs(r.dist2[c] - np.sum((rows[c] - qrows[c]) ** 2)) <= tol(rows[c], qrows[c])


@pytest.mark.parametrize("qset", ALL_SETS, ids=set_id)
def test_project_axis_matches_per_slice_calls_on_larger_arrays(qset, rng):
    w = rng.standard_normal((5, 7, 40)) * rng.random((5, 1, 1)) ** 2
    w[1] = 0.0  # an all-zero slice
    w[2, 0, :5] = 0.0
    for axis in (0, 1, -1):
        r = project(w, qset, axis=axis)
        moved = np.moveaxis(w, axis, 0)
        for c in range(moved.shape[0]):
            rc = project(moved[c], qset)
            assert abs(r.dist2[c] - rc.dist2) <= tol(moved[c])
            assert abs(r.scale[c] - rc.scale) <= 1e-12 * max(rc.scale, TINY)


# -- larger n: against the cone identities and a fine scale grid ----------------------------
def grid_search_dist2(w: np.ndarray, qset, n_alpha: int = 4001) -> float:
    """Upper bound on dist^2: nearest codes on a fine grid of scales (each value is attainable)."""
    top = np.max(np.abs(w)) / np.min(np.abs(qset.levels[qset.levels != 0]))
    alphas = np.linspace(0, 2 * top, n_alpha)[1:]
    lv = qset.levels
    best = float(np.sum(w**2)) if 0.0 in lv else np.inf
    for a in alphas[:: max(1, n_alpha // 400)]:  # coarse part, then refine around the best
        z = lv[np.argmin(np.abs(w[:, None] / a - lv[None, :]), axis=1)]
        s2 = z @ z
        if s2 > 0:
            best = min(best, float(w @ w - max(w @ z, 0) ** 2 / s2))
    return best


@pytest.mark.parametrize("qset", FREE_SETS, ids=set_id)
@settings(max_examples=10)
@given(w=gaussian_weights(20, 300))
def test_project_never_worse_than_a_scale_grid(qset, w):
    r = project(w, qset)
    assert r.dist2 <= grid_search_dist2(w, qset) + tol(w)


@pytest.mark.parametrize("qset", FREE_SETS, ids=set_id)
@settings(max_examples=25)
@given(w=st.one_of(any_weights(1, 40), gaussian_weights(1, 200)))
def test_cone_identities(qset, w):
    r = project(w, qset)
    t = tol(w)
    # <w - P(w), P(w)> = 0 (the scale is the least-squares fit of its codes)
    assert abs(float(np.dot(w - r.q, r.q))) <= 1e4 * t
    # dist^2 = ||w||^2 - ||P(w)||^2
    assert abs(r.dist2 - (np.sum(w**2) - np.sum(r.q**2))) <= 1e4 * t
    # P(2^k w) = 2^k P(w) exactly (power-of-two scaling is exact, so ties are preserved)
    for c in (2.0**-30, 0.5, 8.0):
        if np.any((w != 0) & (np.abs(c * w) < 1e-290)):
            continue  # subnormal underflow would make the scaling inexact
        rc = project(c * w, qset)
        np.testing.assert_array_equal(rc.codes, r.codes)
        np.testing.assert_allclose(rc.q, c * r.q, rtol=1e-13, atol=0)
    # P(cw) = cP(w) for a general c > 0, up to rounding: compare distances
    rc = project(3.7 * w, qset)
    assert abs(rc.dist2 - 3.7**2 * r.dist2) <= 3.7**2 * 1e4 * t
    # idempotence: P(P(w)) = P(w)
    rr = project(r.q, qset)
    assert rr.dist2 <= 1e4 * t
    np.testing.assert_allclose(rr.q, r.q, rtol=1e-12, atol=1e-12 * np.max(np.abs(r.q), initial=0))


@pytest.mark.parametrize("qset", FREE_SETS, ids=set_id)
@settings(max_examples=15)
@given(w=st.one_of(tie_weights(1, 30), gaussian_weights(1, 300)))
def test_extreme_magnitudes_are_scale_covariant(qset, w):
    """Weights near 1e-150 or 1e150 (squares leave float64): same codes as at unit scale."""
    r = project(w, qset)
    for c in (2.0**-500, 2.0**500):
        rc = project(c * w, qset)
        np.testing.assert_array_equal(rc.codes, r.codes)
        assert rc.scale == c * r.scale


@pytest.mark.parametrize("qset", SYMMETRIC_CONES, ids=set_id)
@settings(max_examples=20)
@given(w=gaussian_weights(1, 200))
def test_odd_symmetry_off_ties(qset, w):
    r, rn = project(w, qset), project(-w, qset)
    np.testing.assert_allclose(rn.q, -r.q, rtol=1e-13, atol=0)
    assert abs(rn.dist2 - r.dist2) <= tol(w)


@pytest.mark.parametrize("qset", SYMMETRIC_CONES, ids=set_id)
@settings(max_examples=20)
@given(w=any_weights(1, 30))
def test_odd_symmetry_of_the_distance_with_ties(qset, w):
    assert abs(project(-w, qset).dist2 - project(w, qset).dist2) <= tol(w)


# -- conventions -----------------------------------------------------------------------------
def test_documented_examples_and_tie_rule():
    r = project(np.array([0.1, -2.0, 1.5, 0.2]), Ternary())
    assert r.q.tolist() == [0.0, -1.75, 1.75, 0.0] and r.scale == 1.75
    b = project(np.array([0.0, 0.0]), Binary())
    assert b.codes.tolist() == [1, 1] and b.scale == 0.0
    b = project(np.array([0.0, 2.0, -2.0]), Binary())
    assert b.codes.tolist() == [1, 1, 0]  # 0 goes to +alpha
    f = project(np.array([0.5, -0.5, 1.5, -1.5, 0.25]), Uniform(2, scale=1.0))
    assert f.q.tolist() == [1.0, -1.0, 1.0, -1.0, 0.0]  # ties away from zero
    s = project(np.array([1.0, -1.0, 0.0]), Symmetric(2, scale=1.0))
    assert s.q.tolist() == [1.5, -1.5, 0.5]


def test_ternary_keeps_all_equal_magnitudes_together():
    w = np.array([2.0, 1.0, 1.0, -1.0, 0.1])
    r = project(w, Ternary())
    kept = np.abs(r.q) > 0
    assert kept[1] == kept[2] == kept[3]


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_dtype_and_shape_kept(dtype, rng):
    w = rng.standard_normal((3, 4, 5)).astype(dtype)
    for qset in (Ternary(), Uniform(4), Binary(), Grid([-1, 0, 1], 0.5)):
        for axis in (None, 0, 2):
            r = project(w, qset, axis=axis)
            assert r.q.dtype == dtype and r.q.shape == w.shape and r.codes.shape == w.shape


def test_large_inputs_are_optimal_at_their_scale(rng):
    """Large n: the codes are the nearest levels at the returned scale and the scale is their
    least-squares fit (the two optimality conditions of the refit)."""
    w = rng.standard_normal(300_000)
    for qset in (Ternary(), Binary(), Uniform(4), Symmetric(3)):
        r = project(w, qset)
        assert abs(float(np.dot(w - r.q, r.q))) <= 1e-10 * np.dot(w, w)
        z = qset.levels[r.codes]
        assert abs(r.scale - np.dot(w, z) / np.dot(z, z)) <= 1e-12 * r.scale
        # the codes are the nearest levels at the returned scale
        np.testing.assert_array_equal(r.codes, nearest_codes(w / r.scale, qset.levels))
