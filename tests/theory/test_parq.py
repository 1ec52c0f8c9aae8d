"""theory.parq: PARQ's map equals the argmin of its piecewise-affine regularizer.

Two independent minimisations of (1-s)ψ(x) + (s/2)x² - wx over x in [t_1, t_m]:
(a) exact piecewise: on each [t_k, t_{k+1}] the objective is a quadratic, minimised at its
stationary point clamped to the interval; the best interval wins (tolerance 1e-12: a few
roundings of O(1) numbers);
(b) a dense grid of 200001 points (tolerance: the grid step, the objective being strictly convex
with curvature s).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import theory
from theory.parq import mirror_sigmoid, par_value, parq, parq_map
from theory.sets import Binary, Ternary, Uniform


def _objective(x, w, t, s):
    return (1 - s) * par_value(x, t) + 0.5 * s * x * x - w * x


def _piecewise_argmin(w, t, s):
    best, arg = np.inf, None
    for k in range(len(t) - 1):
        c = 0.5 * (t[k] + t[k + 1])
        x = min(max((w - (1 - s) * c) / s, t[k]), t[k + 1])
        v = _objective(np.array([x]), w, t, s)[0]
        if v < best:
            best, arg = v, x
    return arg


targets = st.lists(st.floats(-3, 3, allow_nan=False), min_size=2, max_size=6, unique=True).map(
    lambda v: np.array(sorted(v))).filter(lambda t: np.min(np.diff(t)) > 1e-3)


@given(t=targets, w=st.floats(-5, 5, allow_nan=False), s=st.floats(0.01, 1.0))
def test_map_is_the_exact_piecewise_argmin(t, w, s) -> None:
    got = parq_map(np.array([w]), t, s)[0]
    assert got == pytest.approx(_piecewise_argmin(w, t, s), abs=1e-12 * (1 + abs(w) / s))


@pytest.mark.parametrize("s", [1.0, 0.5, 0.1])
def test_map_is_the_dense_grid_argmin(s) -> None:
    t = np.array([-1.0, -0.2, 0.0, 0.7, 1.5])
    grid = np.linspace(t[0], t[-1], 200001)
    h = grid[1] - grid[0]
    for w in np.linspace(-2.5, 2.5, 41):
        x = grid[np.argmin(_objective(grid, w, t, s))]
        assert abs(parq_map(np.array([w]), t, s)[0] - x) <= 2 * h


def test_limits_and_shape() -> None:
    t = np.array([-1.0, 0.0, 1.0])
    w = np.array([-3.0, -0.7, -0.2, 0.3, 0.6, 4.0])
    np.testing.assert_array_equal(parq_map(w, t, 1.0), np.clip(w, -1, 1))  # s = 1: the box
    np.testing.assert_array_equal(parq_map(w, t, 1e-9), [-1, -1, 0, 0, 1, 1])  # nearest
    # the s -> 0 end of the forward point is the projection
    rng = np.random.default_rng(0)
    W = rng.normal(size=(3, 7))
    for qs in (Binary(), Ternary(), Uniform(3)):
        np.testing.assert_array_equal(parq(W, qs, 0.0, axis=0), theory.project(W, qs, 0).q)
        near = parq(W, qs, 1e-12, axis=0)
        np.testing.assert_allclose(near, theory.project(W, qs, 0).q, atol=1e-9)


def test_mirror_sigmoid_schedule() -> None:
    assert mirror_sigmoid(0, 10, 20, 10, 0.5) == 1.0
    assert mirror_sigmoid(10, 10, 20, 10, 0.5) == pytest.approx(1.0, abs=1e-15)
    assert mirror_sigmoid(15, 10, 20, 10, 0.5) == pytest.approx(0.5, abs=1e-15)
    assert mirror_sigmoid(20, 10, 20, 10, 0.5) == 0.0
    vals = [mirror_sigmoid(t, 0, 100, 10, 0.5) for t in range(101)]
    assert all(a >= b for a, b in zip(vals, vals[1:]))


@pytest.mark.parametrize("bad,exc", [((np.array([1.0, 0.0]), 0.5), ValueError),
                                      ((np.array([0.0, 1.0]), 0.0), ValueError),
                                      ((np.array([0.0, 1.0]), 1.5), ValueError)])
def test_bad_input(bad, exc) -> None:
    with pytest.raises(exc):
        parq_map(np.zeros(3), *bad)
