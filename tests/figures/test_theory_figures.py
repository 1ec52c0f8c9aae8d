"""The theory figures: files written, and the plotted data checked against the math."""

from __future__ import annotations

import numpy as np
import pytest

from figures.plot_coarse_cosine import default_teacher, plot_coarse_cosine, unit_perp
from figures.plot_landscape import plot_landscape, profile_loss, profile_v
from figures.plot_projection_1d import DEFAULT_SETS, plot_projection_1d
from tests.figures.helpers import assert_written
from theory import Binary
from theory.proxies import PROXIES


def test_projection_1d_plots_envelope_and_prox_formulas(tmp_path):
    lams = (0.5, 4.0)
    res = plot_projection_1d(tmp_path, n_points=61, lams=lams)
    assert_written(res)
    w = res.data["w"]
    assert w.shape == (61,)
    for label, qs in DEFAULT_SETS:
        d = res.data[label]
        levels = qs.levels * qs.scale
        proj = d["proj"]
        # P_Q(w) is a level, the nearest one, and the staircase is non-decreasing
        assert np.isin(proj, levels).all()
        nearest = np.abs(w[:, None] - levels[None, :]).min(axis=1)
        np.testing.assert_allclose(np.abs(w - proj), nearest, rtol=0, atol=1e-15)
        assert np.all(np.diff(proj) >= 0)
        for lam in lams:
            # envelope = (λ/2)(w - P(w))², prox = (w + λP(w))/(1 + λ), per element
            # (docs/math/binaryrelax.md#prox);
            # tolerance: a few ulps of float64 arithmetic on O(1) numbers
            np.testing.assert_allclose(d["envelope"][lam], 0.5 * lam * (w - proj) ** 2,
                                       rtol=1e-12, atol=1e-15)
            prox = d["prox"][lam]
            np.testing.assert_allclose(prox, (w + lam * proj) / (1 + lam), rtol=1e-12,
                                       atol=1e-15)
            assert np.all(np.diff(prox) > 0)  # strictly increasing (slope 1/(1+λ) + jumps)
            # BinaryRelax invariance P_Q(prox(w)) = P_Q(w)
            # (docs/math/binaryrelax.md#prox-invariance)
            back = levels[np.abs(prox[:, None] - levels[None, :]).argmin(axis=1)]
            off_tie = np.abs(np.abs(w[:, None] - levels[None, :]).min(axis=1)
                             - np.sort(np.abs(w[:, None] - levels[None, :]), axis=1)[:, 1]) > 1e-9
            np.testing.assert_array_equal(back[off_tie], proj[off_tie])


def test_projection_1d_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="fixed scale"):
        plot_projection_1d(tmp_path, sets=[("cone", Binary())])
    with pytest.raises(ValueError, match="lams"):
        plot_projection_1d(tmp_path, lams=[0.0])
    with pytest.raises(ValueError, match="n_points"):
        plot_projection_1d(tmp_path, n_points=2)


def test_coarse_cosine_curves_and_monte_carlo(tmp_path):
    res = plot_coarse_cosine(tmp_path, n_theta=9, n_mc_theta=3, n_mc=6000, n_batches=10,
                             norms_w=(1.0, 2.0))
    assert_written(res)
    for nw in (1.0, 2.0):
        d = res.data[nw]
        th = d["theta"]
        # derived independently (module docstring): at v = v*, identity and ReLU have
        # cos∠ = cos(θ/2); float64 closed forms, tolerance ~1e3 ulps
        for p in ("identity", "relu"):
            np.testing.assert_allclose(d[p], np.cos(th / 2), rtol=0, atol=1e-12)
        assert np.all((d["clipped_relu"] > 0) & (d["clipped_relu"] <= 1 + 1e-12))
        # Monte Carlo points: 18 draws of a ~t_9 statistic; |z| < 5 has probability ~0.9993
        for p in PROXIES:
            closed = np.interp(d["mc_theta"], th, d[p])
            cos, se = d["mc"][p][:, 0], d["mc"][p][:, 1]
            assert np.all(se > 0)
            assert np.all(np.abs(cos - closed) < 5 * se + 1e-3), (p, nw, cos, closed, se)


def test_landscape_profile_is_the_constrained_minimum(tmp_path, rng):
    t = default_teacher()
    n2 = float(t.v_star @ t.v_star)
    u, e = t.u, unit_perp(t)
    for theta, s in [(0.3, 0.5), (2.0, -0.7), (np.pi / 2, 0.0), (3.0, 1.2)]:
        w = np.cos(theta) * u + np.sin(theta) * e
        v = profile_v(t, theta, s)
        assert v @ t.v_star == pytest.approx(s * n2, abs=1e-12)
        f_min = float(profile_loss(t, theta, s))
        assert t.loss(v, w) == pytest.approx(f_min, abs=1e-12)
        # any other v on the constraint plane is no better (convex quadratic in v)
        for _ in range(20):
            d = rng.standard_normal(t.m)
            d -= (d @ t.v_star) / n2 * t.v_star
            assert t.loss(v + d, w) >= f_min - 1e-12


def test_landscape_marks_stationary_points_on_the_surface(tmp_path):
    res = plot_landscape(tmp_path, steps=40, grid=16)
    assert_written(res)
    t = default_teacher()
    stat = res.data["stationary"]
    assert set(stat) == {"global min.", "spurious min.", "saddle"}
    for theta, s, f in stat.values():
        # a stationary point minimises f over v at its θ, so it lies on the profile surface
        assert float(profile_loss(t, theta, s)) == pytest.approx(f, abs=1e-12)
    assert stat["global min."][2] == pytest.approx(0.0, abs=1e-14)
    assert stat["saddle"][1] == pytest.approx(0.0, abs=1e-12)  # saddles need v·v* = 0
    assert res.data["F"].shape == (16, 16) and res.data["F"].min() >= -1e-12  # f ≥ 0
    assert len(res.data["trajectories"]) == 3 * len(PROXIES)
    for key, tr in res.data["trajectories"].items():
        assert tr.loss.shape == (41,)
        np.testing.assert_allclose(res.data["s_traj"][key],
                                   tr.v @ t.v_star / (t.v_star @ t.v_star))
