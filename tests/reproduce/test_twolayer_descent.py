"""The certified curvature bound against finite-difference Hessians, and BCGD's descent check
on the two-layer model: holds where covered, and can fail (a wrong projection is caught)."""

import numpy as np
import pytest

from qopt.reproduce import twolayer_descent as td
from theory.projection import project
from theory.sets import Binary, Ternary
from theory.twolayer import TwoLayerTeacher


def fd_hessian(t, v, w, h=1e-5):
    x = np.r_[v, w]
    m, k = t.m, x.size

    def g(y):
        gv, gw = t.grad(y[:m], y[m:])
        return np.r_[gv, gw]

    hess = np.zeros((k, k))
    for i in range(k):
        e = np.zeros(k)
        e[i] = h
        hess[:, i] = (g(x + e) - g(x - e)) / (2 * h)
    return (hess + hess.T) / 2


@pytest.mark.parametrize("n", [2, 4, 7])
def test_pointwise_bound_dominates_the_hessian(rng, n):
    worst = 0.0
    for _ in range(60):
        t = TwoLayerTeacher(rng.standard_normal(5), rng.standard_normal(n))
        v, w = rng.standard_normal(5), rng.standard_normal(n) * rng.uniform(0.2, 3)
        worst = max(worst, np.linalg.norm(fd_hessian(t, v, w), 2) / td.hessian_bound(t, v, w))
    assert worst <= 1.0 + 1e-4  # a bound (FD error ~1e-8), and not vacuous:
    assert worst > 0.3


def test_segment_bound_dominates_the_pointwise_bounds_along_it(rng):
    t = TwoLayerTeacher(rng.standard_normal(5), rng.standard_normal(4))
    for _ in range(30):
        va, vb = rng.standard_normal(5), rng.standard_normal(5)
        wa, wb = rng.standard_normal(4), rng.standard_normal(4)
        seg = td.segment_curvature(t, va, wa, vb, wb)
        pts = max(td.hessian_bound(t, va + s * (vb - va), wa + s * (wb - wa))
                  for s in np.linspace(0, 1, 101))
        assert seg >= pts * (1 - 1e-12)


def test_bound_is_infinite_where_f_is_not_smooth(rng):
    t = TwoLayerTeacher(rng.standard_normal(5), rng.standard_normal(4))
    v = rng.standard_normal(5)
    assert td.hessian_bound(t, v, 2 * t.u) == np.inf  # theta = 0
    assert td.segment_curvature(t, v, t.u + 0.1 * rng.standard_normal(4), v, -t.u) == np.inf
    assert td.segment_curvature(t, v, np.ones(4), v, -np.ones(4)) == np.inf  # through w = 0


def test_theorem_holds_on_covered_steps(rng):
    total = td.DescentCounts()
    for k in range(6):
        t = TwoLayerTeacher(rng.standard_normal(5), rng.standard_normal(4))
        v0, w0 = rng.standard_normal(5), rng.standard_normal(4)
        qv, qw = [(Binary(), Binary()), (Ternary(), Ternary()), (None, Binary())][k % 3]
        uv = v0 if qv is None else project(v0, qv).q
        lip = td.hessian_bound(t, uv, project(w0, qw).q)
        rho = (0.05, 0.3, 1.0)[k % 3]
        total = total + td.bcgd_twolayer(t, qv, qw, rho, 0.5 * rho / lip, v0, w0, 150)
    assert total.violations == 0 and total.projection_violations == 0
    assert total.covered >= 400 and total.increases == 0


def test_the_check_can_fail(rng, monkeypatch):
    t = TwoLayerTeacher(rng.standard_normal(5), rng.standard_normal(4))
    v0, w0 = rng.standard_normal(5), rng.standard_normal(4)
    # far above rho/L: steps are not covered and f goes up somewhere
    big = td.bcgd_twolayer(t, Binary(), Binary(), 1e-3, 1.0, v0, w0, 60)
    assert big.covered == 0 and big.increases > 0

    class Wrong:  # a "projection" that is not the nearest point: the proof's first half fails
        def __init__(self, q):
            self.q = q

    real = td.project
    monkeypatch.setattr(td, "project", lambda x, q: Wrong(1.7 * real(x, q).q[::-1]))
    bad = td.bcgd_twolayer(t, Binary(), Binary(), 0.3, 1e-3, v0, w0, 50)
    assert bad.projection_violations > 0


def test_bad_arguments():
    t = TwoLayerTeacher(np.ones(3), np.ones(2))
    with pytest.raises(ValueError, match="rho"):
        td.bcgd_twolayer(t, None, Binary(), 0.0, 0.1, np.ones(3), np.ones(2), 5)


@pytest.mark.parametrize("n", [2, 4, 7, 30])
def test_bound_is_infinite_on_rounded_kinks_and_finite_just_off_them(rng, n):
    """θ = 0 / π are rarely hit exactly in float64 (w = 2u leaves ‖w_⊥‖ ~ 1e-16): the bound is
    +inf wherever the teacher itself treats w as a kink, at any scale of w, and finite (and
    large) where θ is resolved."""
    for _ in range(20):
        t = TwoLayerTeacher(rng.standard_normal(5), rng.standard_normal(n))
        v = rng.standard_normal(5)
        for c in (2.0, -2.0, 1e-3, 7.3, -1e5, 3.0 / 7.0):
            w = c * t.u
            assert t.grad(v, w)[1].tolist() == [0.0] * n  # the theory's kink (Clarke gradient 0)
            assert td.hessian_bound(t, v, w) == np.inf
            assert td.segment_curvature(t, v, w, v + 1.0, w + rng.standard_normal(n)) == np.inf
        e = rng.standard_normal(n)
        e -= (e @ t.u) * t.u
        e /= np.linalg.norm(e)
        w = t.u + 1e-6 * e  # sin θ ≈ 1e-6: smooth there, cot θ ≈ 1e6
        b = td.hessian_bound(t, v, w)
        assert np.isfinite(b) and (n == 2 or b > 1e4 * abs(v @ t.v_star) / (2 * np.pi))
