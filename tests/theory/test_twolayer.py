"""Tests of theory.twolayer: closed forms of the ICLR'19 STE two-layer model vs Monte Carlo,
finite differences, the paper's scalar formulas, mpmath quadrature, and the landscape claims."""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from theory.twolayer import TwoLayerTeacher, clipped_pq, clipped_pq_paper_quad

PROXIES = ("identity", "relu", "clipped_relu")
N_MC = 1_000_000
# Family-wise: <= 8 examples x 3 proxies x 14 coordinates ~ 340 z-scores; P(|z| > 5) = 5.7e-7
# each, so a false alarm has probability < 2e-4 (and the seeds are fixed anyway).
N_SE = 5.0
SQ2PI = np.sqrt(2 * np.pi)

finite = st.floats(-2.0, 2.0, allow_nan=False, allow_infinity=False)


@st.composite
def configs(draw, max_m=5, max_n=4, norm_lo=0.3, norm_hi=3.0):
    m = draw(st.integers(1, max_m))
    n = draw(st.integers(1, max_n))
    vs = np.array(draw(st.lists(finite, min_size=m, max_size=m)))
    v = np.array(draw(st.lists(finite, min_size=m, max_size=m)))
    ws = np.array(draw(st.lists(finite, min_size=n, max_size=n)))
    w = np.array(draw(st.lists(finite, min_size=n, max_size=n)))
    assume(np.linalg.norm(ws) > 0.1 and np.linalg.norm(w) > 0.1)
    w = w / np.linalg.norm(w) * draw(st.floats(norm_lo, norm_hi))
    return TwoLayerTeacher(vs, ws), v, w


def angle_config(m, n, theta, norm_w, seed):
    """Teacher, v and a w at exactly angle theta from w* with ||w|| = norm_w."""
    r = np.random.default_rng(seed)
    vs, v, ws = r.standard_normal(m), r.standard_normal(m), r.standard_normal(n)
    u = ws / np.linalg.norm(ws)
    e = r.standard_normal(n)
    e -= (e @ u) * u
    e /= np.linalg.norm(e)
    return TwoLayerTeacher(vs, ws), v, norm_w * (np.cos(theta) * u + np.sin(theta) * e)


def assert_mc(teacher, v, w, proxy, n=N_MC, seed=12345):
    st_ = teacher.sample(v, w, proxy, n, np.random.default_rng(seed))
    gv, gw = teacher.expected_coarse_grad(v, w, proxy)
    f = teacher.loss(v, w)
    assert abs(st_.loss - f) <= N_SE * st_.loss_se + 1e-12
    assert np.all(np.abs(st_.grad_v - gv) <= N_SE * st_.grad_v_se + 1e-12)
    assert np.all(np.abs(st_.coarse_w - gw) <= N_SE * st_.coarse_w_se + 1e-12)


# ---------------------------------------------------------------- Monte Carlo
@settings(max_examples=8)
@given(configs())
def test_monte_carlo_matches_closed_forms(cfg):
    teacher, v, w = cfg
    for proxy in PROXIES:
        assert_mc(teacher, v, w, proxy)


@pytest.mark.parametrize("theta", [1e-3, np.pi - 1e-3, np.pi / 2])
@pytest.mark.parametrize("norm_w", [0.2, 5.0])
def test_monte_carlo_clipped_at_extreme_angles(theta, norm_w):
    teacher, v, w = angle_config(4, 3, theta, norm_w, seed=7)
    assert_mc(teacher, v, w, "clipped_relu", n=400_000)


def test_monte_carlo_at_kinks_and_w_zero():
    teacher, v, _ = angle_config(3, 3, 0.0, 1.0, seed=3)
    for w in (0.7 * teacher.u, -1.3 * teacher.u):  # theta = 0 and pi exactly
        for proxy in PROXIES:
            assert_mc(teacher, v, w, proxy, n=300_000)
    st0 = teacher.sample(v, np.zeros(3), "identity", 300_000, np.random.default_rng(0))
    assert abs(st0.loss - teacher.loss(v, np.zeros(3))) <= N_SE * st0.loss_se
    assert np.all(st0.grad_v == 0.0)  # sigma(Z 0) = 0


def test_sample_chunking_is_stream_equivalent():
    teacher, v, w = angle_config(3, 2, 1.0, 1.0, seed=1)
    a = teacher.sample(v, w, "relu", 20_000, np.random.default_rng(5))
    b = teacher.sample(v, w, "relu", 20_000, np.random.default_rng(5), chunk_size=777)
    assert a.loss == pytest.approx(b.loss, rel=1e-12)
    np.testing.assert_allclose(a.coarse_w, b.coarse_w, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(a.coarse_w_se, b.coarse_w_se, rtol=1e-8)


def test_invariance_to_norm_of_w_star():
    teacher, v, w = angle_config(4, 3, 1.1, 0.8, seed=2)
    scaled = TwoLayerTeacher(teacher.v_star, 3.7 * teacher.w_star)
    for proxy in PROXIES:
        a = teacher.sample(v, w, proxy, 5000, np.random.default_rng(9))
        b = scaled.sample(v, w, proxy, 5000, np.random.default_rng(9))
        np.testing.assert_array_equal(a.coarse_w, b.coarse_w)
        np.testing.assert_allclose(teacher.expected_coarse_grad(v, w, proxy)[1],
                                   scaled.expected_coarse_grad(v, w, proxy)[1], atol=1e-15)
    assert teacher.loss(v, w) == pytest.approx(scaled.loss(v, w), rel=1e-14)


# ---------------------------------------------------------------- true gradient
@given(configs(max_m=6, max_n=5))
def test_gradient_matches_central_differences(cfg):
    teacher, v, w = cfg
    assume(0.05 < teacher.theta(w) < np.pi - 0.05)
    gv, gw = teacher.grad(v, w)
    h = 1e-6
    fd_v = [(teacher.loss(v + h * e, w) - teacher.loss(v - h * e, w)) / (2 * h)
            for e in np.eye(teacher.m)]
    fd_w = [(teacher.loss(v, w + h * e) - teacher.loss(v, w - h * e)) / (2 * h)
            for e in np.eye(teacher.n)]
    # truncation O(h^2 f''') ~ 1e-10, rounding ~ 1e-16 f / h ~ 1e-9
    np.testing.assert_allclose(gv, fd_v, atol=1e-7)
    np.testing.assert_allclose(gw, fd_w, atol=1e-7)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_kinks_theta_zero_and_pi(sign):
    teacher, v, _ = angle_config(3, 4, 0.0, 1.0, seed=11)
    w = sign * 2.0 * teacher.u
    assert teacher.theta(w) == (0.0 if sign > 0 else np.pi)
    with pytest.raises(ValueError, match="not differentiable"):
        teacher.grad(v, w, at_kink="raise")
    assert np.all(teacher.grad(v, w)[1] == 0.0)  # minimum-norm Clarke subgradient
    r = np.random.default_rng(0)
    for _ in range(5):
        dv, dw = r.standard_normal(3), r.standard_normal(4)
        t = 1e-7
        fd = (teacher.loss(v + t * dv, w + t * dw) - teacher.loss(v, w)) / t
        assert teacher.directional_derivative(v, w, dv, dw) == pytest.approx(fd, abs=1e-5)
    flat = TwoLayerTeacher(np.array([1.0, 2.0, 0.0]), teacher.w_star)
    v0 = np.array([2.0, -1.0, 5.0])  # v0.v* = 0 exactly: f is constant in w, differentiable
    assert np.all(flat.grad(v0, w, at_kink="raise")[1] == 0.0)


# ---------------------------------------------------------------- correlation
@given(st.integers(1, 6), st.integers(2, 5),
       st.one_of(st.floats(1e-9, 1e-3), st.floats(1e-3, np.pi - 1e-3),
                 st.floats(1e-9, 1e-3).map(lambda d: np.pi - d)),
       st.floats(-3.0, 3.0), st.integers(0, 10**6))
def test_positive_correlation_relu_and_clipped(m, n, theta, log_norm, seed):
    teacher, v, w = angle_config(m, n, theta, 10.0**log_norm, seed)
    vv = float(v @ teacher.v_star)
    assume(abs(vv) > 1e-3)
    nw, th = np.linalg.norm(w), teacher.theta(w)
    _, gw = teacher.grad(v, w)
    paper = {"identity": np.sin(th) * vv**2 / ((2 * np.pi) ** 1.5 * nw),
             "relu": np.sin(th) * vv**2 / (2 * (2 * np.pi) ** 1.5 * nw),
             "clipped_relu": clipped_pq(th, nw)[1] * vv**2 / (2 * np.pi * nw)}
    assert abs(clipped_pq(th, nw)[1] - clipped_pq_paper_quad(th, nw)[1]) < 1e-15
    for proxy in PROXIES:
        corr = teacher.coarse_correlation(v, w, proxy)
        eg = teacher.expected_coarse_grad(v, w, proxy)[1]
        assert corr > 0.0
        assert 0.0 < teacher.coarse_cosine(v, w, proxy) <= 1.0
        assert corr == pytest.approx(paper[proxy], rel=1e-9, abs=1e-300)
        # the dot product of the vectors agrees up to its own rounding
        assert abs(eg @ gw - corr) <= 1e-12 * np.linalg.norm(eg) * np.linalg.norm(gw)


# ---------------------------------------------------------------- clipped integrals
def _pq_mpmath(theta, norm_w):
    mp.mp.dps = 40
    th, t = mp.mpf(theta), 1 / mp.mpf(norm_w)
    k, tl = mp.cot(th), abs(mp.tan(th))
    pts = [mp.mpf(0)] + [x for x in (tl / 10, tl, 5 * tl) if 0 < x < t] + [t]
    p = mp.quad(lambda x: x * mp.npdf(x) * mp.ncdf(k * x), pts)
    q = mp.quad(lambda x: mp.npdf(x) * mp.npdf(k * x), pts)
    return float(p), float(q)


@pytest.mark.parametrize("norm_w", [1e-3, 0.3, 1.0, 1e2, 1e3])
@pytest.mark.parametrize("theta", [1e-8, 1e-3, 0.7, np.pi / 2, 2.4, np.pi - 1e-3, np.pi - 1e-8])
def test_clipped_pq_near_machine_precision(theta, norm_w):
    p, q = clipped_pq(theta, norm_w)
    pe, qe = _pq_mpmath(theta, norm_w)
    assert p == pytest.approx(pe, rel=1e-12)  # measured worst 5.5e-13 (theta 1e-6, ||w|| 1e3)
    assert q == pytest.approx(qe, rel=1e-13)
    pp, qq = clipped_pq_paper_quad(theta, norm_w)  # the paper's polar integrals
    assert abs(pp - pe) < 1e-13 and abs(qq - qe) < 1e-13


def test_clipped_pq_endpoints():
    for nw in (0.1, 1.0, 10.0):
        p0 = (1 - np.exp(-0.5 / nw**2)) / SQ2PI
        assert clipped_pq(0.0, nw) == (pytest.approx(p0, rel=1e-15), 0.0)
        assert clipped_pq(np.pi, nw) == (0.0, 0.0)
        assert clipped_pq(1e-12, nw)[0] == pytest.approx(p0, rel=1e-9)
    with pytest.raises(ValueError, match="theta"):
        clipped_pq(4.0, 1.0)
    with pytest.raises(ValueError, match="norm_w"):
        clipped_pq(1.0, 0.0)


# ---------------------------------------------------------------- landscape
def spurious_teacher(m, seed):
    r = np.random.default_rng(seed)
    while True:
        vs = r.standard_normal(m)
        s, nn = vs.sum(), vs @ vs
        if 0.05 < s * s < 0.45 * (m + 1) * nn:
            return TwoLayerTeacher(vs, r.standard_normal(3))


@pytest.mark.parametrize("m", [2, 3, 6])
def test_identity_ste_does_not_vanish_at_spurious_minimizers(m):
    teacher = spurious_teacher(m, seed=m)
    sp_ = teacher.stationary_points()
    assert sp_.condition
    v, w = sp_.spurious_v, 1.7 * sp_.spurious_w
    gv, gw = teacher.grad(v, w)
    assert np.allclose(gv, 0.0, atol=1e-14) and np.all(gw == 0.0)
    r = np.random.default_rng(1)
    for _ in range(10):  # local minimizer in w: every one-sided derivative is >= 0
        assert teacher.directional_derivative(v, w, np.zeros(m), r.standard_normal(3)) >= 0.0
    s = teacher.v_star.sum()
    eg = teacher.expected_coarse_grad(v, w, "identity")[1]
    assert np.linalg.norm(eg) == pytest.approx(2 * (m - 1) * s**2 / (SQ2PI * (m + 1) ** 2),
                                               rel=1e-12)
    assert np.linalg.norm(eg) > 1e-3
    for proxy in ("relu", "clipped_relu"):  # derived here: h = 0 there, so these vanish
        assert np.allclose(teacher.expected_coarse_grad(v, w, proxy)[1], 0.0, atol=1e-14)


@pytest.mark.parametrize("m", [1, 2, 4, 7])
def test_saddles_of_proposition_1(m):
    teacher = spurious_teacher(m, seed=10 + m) if m > 1 else TwoLayerTeacher(
        np.array([1.0]), np.array([1.0, 0.0, 0.0]))
    sp_ = teacher.stationary_points()
    s, nn = teacher.v_star.sum(), teacher.v_star @ teacher.v_star
    assert sp_.condition == (s * s < 0.5 * (m + 1) * nn)
    if not sp_.condition:
        assert sp_.saddle_v is None and sp_.spurious_v is None
        return
    assert np.pi / 2 <= sp_.saddle_theta < np.pi
    assert teacher.theta(sp_.saddle_w) == pytest.approx(sp_.saddle_theta, abs=1e-12)
    assert abs(sp_.saddle_v @ teacher.v_star) < 1e-12
    for scale in (0.5, 4.0):
        gv, gw = teacher.grad(sp_.saddle_v, scale * sp_.saddle_w)
        assert np.allclose(gv, 0.0, atol=1e-13) and np.allclose(gw, 0.0, atol=1e-13)
    assert teacher.loss(sp_.global_v, sp_.global_w) == pytest.approx(0.0, abs=1e-15)


def test_no_spurious_when_condition_fails():
    teacher = TwoLayerTeacher(np.ones(4), np.array([1.0, 2.0]))  # S^2 = 16 >= 5/2 * 4
    sp_ = teacher.stationary_points()
    assert not sp_.condition and sp_.saddle_v is None and sp_.spurious_w is None


# ---------------------------------------------------------------- coarse gradient descent
@given(configs(max_m=6, max_n=5, norm_lo=1.0, norm_hi=3.0))
def test_relu_and_clipped_cgd_descend(cfg):
    teacher, v, w = cfg
    for proxy in ("relu", "clipped_relu"):
        tr = teacher.coarse_gradient_descent(v, w, proxy, lr=2e-3, steps=300)
        # Theorem 1 assumes ||w^t|| >= c_w; check descent on the prefix where ||w|| >= 0.1
        ok = np.minimum.accumulate(tr.norm_w) >= 0.1
        k = int(np.argmin(ok)) if not ok.all() else ok.size
        assert k >= 50
        assert np.all(np.diff(tr.loss[:k]) <= 1e-12 * tr.loss[0])
        assert tr.loss[k - 1] <= tr.loss[0]
        assert tr.v.shape == (301, teacher.m) and tr.w.shape == (301, teacher.n)


def test_identity_cgd_leaves_spurious_minimizer_relu_stays():
    teacher = TwoLayerTeacher(np.array([1.0, 1.0, 1.0, -0.5]), np.array([1.0, 0.0, 0.0]))
    sp_ = teacher.stationary_points()
    v0 = sp_.spurious_v + 1e-3
    w0 = sp_.spurious_w + np.array([0.0, 1e-3, 0.0])
    ident = teacher.coarse_gradient_descent(v0, w0, "identity", lr=0.01, steps=3000)
    assert np.max(np.diff(ident.loss)) > 0.01  # not a descent method here
    assert np.pi - ident.theta.min() > 1.0  # moved far away from theta = pi
    for proxy in ("relu", "clipped_relu"):
        tr = teacher.coarse_gradient_descent(v0, w0, proxy, lr=0.01, steps=3000)
        assert np.all(np.diff(tr.loss) <= 1e-15)
        assert np.pi - tr.theta.min() < 2e-3


# ---------------------------------------------------------------- bad input
def test_bad_input_names_the_argument():
    t = TwoLayerTeacher(np.ones(3), np.ones(2))
    v, w = np.ones(3), np.ones(2)
    cases = [
        (lambda: TwoLayerTeacher(np.ones(3), np.zeros(2)), ValueError, "w_star"),
        (lambda: TwoLayerTeacher(np.ones(0), np.ones(2)), ValueError, "v_star.*m >= 1"),
        (lambda: TwoLayerTeacher(np.ones((2, 2)), np.ones(2)), ValueError, "v_star"),
        (lambda: TwoLayerTeacher(np.array([1.0, np.nan]), np.ones(2)), ValueError, "v_star"),
        (lambda: TwoLayerTeacher(np.array([1, 2]), np.ones(2)), TypeError, "v_star"),
        (lambda: t.loss(np.ones(4), w), ValueError, "v must have shape"),
        (lambda: t.loss(v, np.ones(3)), ValueError, "w must have shape"),
        (lambda: t.loss(v, np.array([np.inf, 1.0])), ValueError, "w must be finite"),
        (lambda: t.grad(v, np.zeros(2)), ValueError, "w must be non-zero"),
        (lambda: t.expected_coarse_grad(v, np.zeros(2), "relu"), ValueError, "w must be"),
        (lambda: t.expected_coarse_grad(v, w, "tanh"), ValueError, "proxy"),
        (lambda: t.coarse_correlation(v, w, 3), TypeError, "proxy"),
        (lambda: t.sample(v, w, "relu", 0, np.random.default_rng()), ValueError, "n_samples"),
        (lambda: t.sample(v, w, "relu", 10, 0), TypeError, "rng"),
        (lambda: t.grad(v, w, at_kink="x"), ValueError, "at_kink"),
        (lambda: t.coarse_gradient_descent(v, w, "relu", -1.0, 3), ValueError, "lr"),
        (lambda: t.coarse_gradient_descent(v, np.zeros(2), "relu", 0.1, 3), ValueError, "w0"),
    ]
    for fn, exc, msg in cases:
        with pytest.raises(exc, match=msg):
            fn()
    assert t.loss(v, np.zeros(2)) == pytest.approx((np.ones(3) @ (np.eye(3) + 1) @ np.ones(3))
                                                   / 8)
