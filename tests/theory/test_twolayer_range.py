"""TwoLayerTeacher over the whole float64 range: any non-zero finite w* (subnormal to the largest
finite value) gives the teacher direction exactly, and w may be as large or small as floats go.

Property (module docstring of theory.twolayer): results depend on w* only through u = w*/||w*||,
and on w only through ŵ and ||w||. Power-of-two rescalings are exact in floating point, so they
must leave u, θ and the loss bit-for-bit unchanged and scale ∂f/∂w by exactly 1/c; other factors
change u only by rounding (checked to 4 ulp)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from theory.twolayer import TwoLayerTeacher

V_STAR = np.array([1.0, -0.5, 2.0])
W_STAR = np.array([0.3, -1.2, 0.7, 0.1])
V = np.array([0.4, 0.9, -0.3])
W = np.array([1.0, 0.2, -0.4, 0.8])
BASE = TwoLayerTeacher(V_STAR, W_STAR)
#: 2^k keeping every entry of W_STAR / W a normal float64 (min |entry| 0.1, max 1.2)
K_RANGE = (-1018, 1023)
PROXIES = ("identity", "relu", "clipped_relu")


@given(st.integers(*K_RANGE))
def test_power_of_two_scaling_of_w_star_is_bit_exact(k):
    t = TwoLayerTeacher(V_STAR, np.ldexp(W_STAR, k))
    assert np.array_equal(t.u, BASE.u)
    assert t.loss(V, W) == BASE.loss(V, W)
    gv, gw = t.grad(V, W)
    gv0, gw0 = BASE.grad(V, W)
    assert np.array_equal(gv, gv0) and np.array_equal(gw, gw0)
    for proxy in PROXIES:
        got, ref = t.expected_coarse_grad(V, W, proxy), BASE.expected_coarse_grad(V, W, proxy)
        assert all(np.array_equal(a, b) for a, b in zip(got, ref))


@given(st.floats(1e-300, 1e300))
def test_any_scale_of_w_star_gives_the_same_direction(c):
    t = TwoLayerTeacher(V_STAR, c * W_STAR)
    np.testing.assert_allclose(t.u, BASE.u, rtol=4 * np.finfo(float).eps, atol=0)
    assert t.loss(V, W) == pytest.approx(BASE.loss(V, W), rel=1e-14)


@pytest.mark.parametrize("w_star,u", [
    ([np.finfo(float).max] * 2 + [-np.finfo(float).max], np.array([1.0, 1.0, -1.0]) / np.sqrt(3)),
    ([1e308, 1e308, 1e308, 1e308], np.full(4, 0.5)),
    ([5e-324, 0.0, -5e-324], np.array([1.0, 0.0, -1.0]) / np.sqrt(2)),  # smallest subnormal
    ([1e-320, 0.0], np.array([1.0, 0.0])),
    ([3e-310, 4e-310], np.array([0.6, 0.8])),  # subnormal, norm exact as 3-4-5
])
def test_extreme_w_star_is_accepted_and_exact(w_star, u):
    t = TwoLayerTeacher(np.ones(2), np.array(w_star))
    # subnormals hold few bits: 3e-310 / 4e-310 are within 1e-14 of 3:4
    np.testing.assert_allclose(t.u, u, rtol=1e-13, atol=1e-15)
    assert np.linalg.norm(t.u) == pytest.approx(1.0, abs=4e-16)


def test_zero_w_star_is_still_rejected():
    with pytest.raises(ValueError, match="w_star must be non-zero"):
        TwoLayerTeacher(V_STAR, np.zeros(4))


@given(st.integers(*K_RANGE))
def test_power_of_two_scaling_of_w_scales_the_w_gradient_exactly(k):
    w = np.ldexp(W, k)
    assert BASE.theta(w) == BASE.theta(W)
    assert BASE.loss(V, w) == BASE.loss(V, W)
    gv, gw = BASE.grad(V, w)
    gv0, gw0 = BASE.grad(V, W)
    assert np.array_equal(gv, gv0)
    # dF/dw = -(v.v*)/(2 pi ||w||) e_perp: exactly 2^-k times the unscaled one, unless that
    # leaves the normal range (then it is the correctly rounded subnormal / zero)
    expect = np.ldexp(gw0, -k)
    if np.all((expect == 0) | (np.abs(expect) >= np.finfo(float).tiny)):
        assert np.array_equal(gw, expect)
    else:
        np.testing.assert_allclose(gw, expect, rtol=0, atol=np.finfo(float).smallest_subnormal)
    for proxy in ("identity", "relu"):  # scale invariant in w (only the clipped ReLU is not)
        assert np.array_equal(BASE.expected_coarse_grad(V, w, proxy)[1],
                              BASE.expected_coarse_grad(V, W, proxy)[1])


@pytest.mark.parametrize("k", [-1074, -1060, -600, 600, 1000, 1023])
def test_clipped_relu_at_extreme_norms_takes_its_limits(k):
    """||w|| -> 0 (t = 1/||w|| -> inf): E g tends to a finite limit; ||w|| -> inf: E g ~ c/||w||
    (q ~ t/sqrt(2 pi) phi(0), p ~ t^2). Both limits are reached without overflow or NaN, and
    agree with a moderately extreme scale (1e-150 / 1e150) to rounding."""
    w = np.ldexp(W / np.max(np.abs(W)), k)  # subnormal entries keep few bits: compare with
    same_dir = np.ldexp(w, -k)  # the same (rounded) direction at the moderate scale
    gv, g = BASE.expected_coarse_grad(V, w, "clipped_relu")
    assert np.all(np.isfinite(g)) and np.all(np.isfinite(gv))
    if k < 0:
        ref = BASE.expected_coarse_grad(V, same_dir * 1e-150, "clipped_relu")[1]
        np.testing.assert_allclose(g, ref, rtol=1e-12, atol=1e-300)
    else:  # compare ||w|| E g, computed without overflow (exact power-of-two scalings)
        ref = BASE.expected_coarse_grad(V, same_dir * 1e150, "clipped_relu")[1] * 1e150
        np.testing.assert_allclose(np.ldexp(g, k), ref, rtol=1e-9)


@pytest.mark.parametrize("k", [-1018, -500, 500, 1023])
def test_monte_carlo_at_extreme_scales_matches_the_unscaled_draws(k):
    """sample() compares Zw with 0 and 1: rescaling w by 2^k and the threshold by 2^-k is exact,
    so identical draws give identical statistics for the scale-free proxies."""
    w = np.ldexp(W, k)
    for proxy in ("identity", "relu"):
        a = BASE.sample(V, w, proxy, 2000, np.random.default_rng(1))
        b = BASE.sample(V, W, proxy, 2000, np.random.default_rng(1))
        assert a.loss == b.loss and np.array_equal(a.coarse_w, b.coarse_w)
    c = BASE.sample(V, w, "clipped_relu", 2000, np.random.default_rng(1))
    assert np.all(np.isfinite(c.coarse_w))
