"""theory.proxquant: ProxQuant's map equals the argmin of the W-shaped regularizer.

Independent minimisations of min_k|x - t_k| + (x - w)²/(2τ): (a) exact per Voronoi cell (the
objective is convex on each cell: clamp the cell's soft-threshold point to the cell, best cell
wins), tolerance 1e-12; (b) a dense grid, tolerance two grid steps.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import theory
from theory.proxquant import proxquant, proxquant_map, w_value
from theory.sets import Binary, Ternary, Uniform


def _objective(x, w, t, tau):
    return w_value(x, t) + (x - w) ** 2 / (2 * tau)


def _cellwise_argmin(w, t, tau):
    mids = (t[:-1] + t[1:]) / 2
    lo = np.concatenate([[-np.inf], mids])
    hi = np.concatenate([mids, [np.inf]])
    best, arg = np.inf, None
    for k in range(len(t)):
        x = t[k] + np.sign(w - t[k]) * max(abs(w - t[k]) - tau, 0.0)
        x = min(max(x, lo[k]), hi[k])
        v = _objective(np.array([x]), w, t, tau)[0]
        if v < best - 1e-15:
            best, arg = v, x
    return arg


def _nearest(w, t):
    return t[np.argmin(np.abs(w - t))]


targets = st.lists(st.floats(-3, 3, allow_nan=False), min_size=1, max_size=6, unique=True).map(
    lambda v: np.array(sorted(v))).filter(lambda t: t.size < 2 or np.min(np.diff(t)) > 1e-3)


@given(t=targets, w=st.floats(-5, 5, allow_nan=False), tau=st.floats(1e-3, 2.0))
def test_map_is_the_exact_cellwise_argmin(t, w, tau) -> None:
    q = _nearest(w, t)
    if t.size > 1 and np.isclose(np.sort(np.abs(w - t))[:2], abs(w - q)).all():
        return  # w on a midpoint: two minimisers
    got = proxquant_map(np.array([w]), np.array([q]), tau)[0]
    assert got == pytest.approx(_cellwise_argmin(w, t, tau), abs=1e-12)


@pytest.mark.parametrize("tau", [0.05, 0.4, 3.0])
def test_map_is_the_dense_grid_argmin(tau) -> None:
    t = np.array([-1.0, -0.2, 0.0, 0.7, 1.5])
    grid = np.linspace(-3, 3, 300001)
    h = grid[1] - grid[0]
    for w in np.linspace(-2.5, 2.5, 37):
        x = grid[np.argmin(_objective(grid, w, t, tau))]
        got = proxquant_map(np.array([w]), np.array([_nearest(w, t)]), tau)[0]
        assert abs(got - x) <= 2 * h


def test_forward_point_uses_the_projection() -> None:
    rng = np.random.default_rng(1)
    W = rng.normal(size=(4, 9))
    for qs in (Binary(), Ternary(), Uniform(3)):
        p = theory.project(W, qs, 0).q
        u = proxquant(W, qs, 0.1, axis=0)
        np.testing.assert_allclose(u, W - np.clip(W - p, -0.1, 0.1), rtol=0, atol=1e-15)
        assert np.all(np.abs(u - p) <= np.abs(W - p))  # moved toward P(w)
        np.testing.assert_array_equal(proxquant(W, qs, 1e9, axis=0), p)  # large τ: P(w)


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="tau"):
        proxquant_map(np.zeros(2), np.zeros(2), 0.0)
    with pytest.raises(ValueError, match="shape"):
        proxquant_map(np.zeros(2), np.zeros(3), 1.0)
