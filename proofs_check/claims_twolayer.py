r"""Claims of the STE theory on the two-linear-layer Gaussian model (STE paper, Yin et al. 2019b;
``docs/math/two-layer-model.md``).

Closed forms of :class:`theory.twolayer.TwoLayerTeacher` checked by independent routes:
sympy derivations (:mod:`theory.symbolic`), Monte Carlo over Z (``TwoLayerTeacher.sample``
simulates the network directly), and central finite differences of the population loss.
Monte Carlo agreement is judged by the z-score |closed − MC| / SE (bound 5: a false alarm has
probability < 1e-6 per coordinate; seeds are fixed, so the result is reproducible).
"""

from __future__ import annotations

import numpy as np

from proofs_check.claims import Outcome, claim

__all__ = ["POINTS", "teacher"]

SRC = "STE paper (Yin et al. 2019b, ICLR 2019 submission)"
#: (v, w) evaluation points for m = 5, n = 4: generic, near θ = π/2, small and large ||w||
POINTS = (
    (np.array([0.5, -1.0, 0.3, 0.8, -0.2]), np.array([0.3, -0.4, 1.0, 0.2])),
    (np.array([1.0, 0.2, -0.5, 0.4, 0.9]), np.array([-1.0, 0.5, 0.1, 0.6]) * 0.4),
    (np.array([-0.3, 0.7, 1.1, -0.6, 0.2]), np.array([0.9, 0.8, -0.2, 0.1]) * 3.0),
)


def teacher():  # noqa: ANN201 - TwoLayerTeacher, imported lazily
    """The teacher used by these claims: v* = (1, -0.5, 0.8, 0.3, -1), w* = (1, 0.5, -0.3, 0.2)."""
    from theory.twolayer import TwoLayerTeacher

    return TwoLayerTeacher(np.array([1.0, -0.5, 0.8, 0.3, -1.0]),
                           np.array([1.0, 0.5, -0.3, 0.2]))


def _symbolic(name: str) -> float:
    from theory import symbolic

    return float({"lemma1": symbolic.check_lemma1, "lemma2": symbolic.check_lemma2,
                  "inner": symbolic.check_inner_products,
                  "clipped_q": symbolic.check_clipped_q}[name]())


@claim("lemma1_symbolic", "Lemma 1: population loss f(v,w) in closed form", SRC + ", Lemma 1",
       "symbolic (sympy, from the orthant probability)")
def _lemma1_sym() -> Outcome:
    r = _symbolic("lemma1")
    return Outcome(r <= 1e-30, r, "|derived - paper| (0 = proved); holds <= 1e-30")


@claim("lemma1_monte_carlo", "Lemma 1: f(v,w) = E_Z l(v,w;Z)", SRC + ", Lemma 1", "Monte Carlo")
def _lemma1_mc() -> Outcome:
    t, rng = teacher(), np.random.default_rng(5)
    z = 0.0
    for v, w in POINTS:
        s = t.sample(v, w, "relu", 400_000, rng)
        z = max(z, abs(t.loss(v, w) - s.loss) / s.loss_se)
    return Outcome(z <= 5.0, z, "max |f - MC mean| / SE over 3 points, N = 4e5; holds <= 5")


@claim("lemma2_symbolic", "Lemma 2: df/dw = -(v.v*)/(2 pi ||w||) e_perp for theta in (0, pi)",
       SRC + ", Lemma 2", "symbolic (sympy)")
def _lemma2_sym() -> Outcome:
    r = _symbolic("lemma2")
    return Outcome(r <= 1e-30, r, "max |sympy gradient - Lemma 2| (40 digits); holds <= 1e-30")


def _fd_grad(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:  # noqa: ANN001
    g = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


@claim("lemma2_finite_differences", "Lemma 2: (df/dv, df/dw) are the gradients of Lemma 1's f",
       SRC + ", Lemma 2", "finite differences (central, h = 1e-6)")
def _lemma2_fd() -> Outcome:
    t = teacher()
    worst = 0.0
    for v, w in POINTS:
        gv, gw = t.grad(v, w)
        fv = _fd_grad(lambda x, w=w: t.loss(x, w), v)
        fw = _fd_grad(lambda x, v=v: t.loss(v, x), w)
        scale = 1.0 + np.linalg.norm(gv) + np.linalg.norm(gw)
        worst = max(worst, float(np.max(np.abs(np.r_[gv - fv, gw - fw]))) / scale)
    return Outcome(worst <= 1e-6, worst, "max |closed - FD| / (1 + ||grad||); holds <= 1e-6")


@claim("coarse_gradients_monte_carlo",
       "E[dl/dv] = df/dv (Lemma 4) and E g_mu in closed form for identity, ReLU, clipped ReLU",
       SRC + ", Lemmas 4, 5, 7; clipped ReLU derived here "
       "(docs/math/two-layer-model.md#clipped-relu-ste)", "Monte Carlo")
def _coarse_mc() -> Outcome:
    t, rng = teacher(), np.random.default_rng(6)
    z = 0.0
    for proxy in ("identity", "relu", "clipped_relu"):
        for v, w in POINTS:
            gv, gw = t.expected_coarse_grad(v, w, proxy)
            s = t.sample(v, w, proxy, 200_000, rng)
            z = max(z, float(np.max(np.abs(gw - s.coarse_w) / s.coarse_w_se)),
                    float(np.max(np.abs(gv - s.grad_v) / s.grad_v_se)))
    return Outcome(z <= 5.0, z, "max |closed - MC| / SE per coordinate, 3 proxies x 3 points, "
                                "N = 2e5; holds <= 5")


@claim("coarse_inner_products_symbolic",
       "<E g_mu, df/dw> closed forms (identity, ReLU) and the clipped-ReLU q(theta, ||w||)",
       SRC + ", Lemmas 5, 8; q derived here", "symbolic (sympy)")
def _inner_sym() -> Outcome:
    r = max(_symbolic("inner"), _symbolic("clipped_q"))
    return Outcome(r <= 1e-30, r, "max residual (0 = proved); holds <= 1e-30")


@claim("positive_correlation",
       "<E g_mu, df/dw> > 0 for theta in (0, pi), v.v* != 0: identity, ReLU, clipped ReLU",
       SRC + ", Lemmas 5, 8; clipped ReLU derived here "
       "(docs/math/two-layer-model.md#correlation)",
       "closed forms on a grid: 25 angles x 6 norms x 4 v")
def _positive() -> Outcome:
    t = teacher()
    rng = np.random.default_rng(7)
    u = t.u
    k = int(np.argmin(np.abs(u)))
    e = np.eye(t.n)[k] - u[k] * u
    e /= np.linalg.norm(e)
    worst, mism, cases = np.inf, 0.0, 0
    for theta in np.linspace(0.02, np.pi - 0.02, 25):
        for nw in (0.05, 0.3, 1.0, 3.0, 10.0, 50.0):
            w = nw * (np.cos(theta) * u + np.sin(theta) * e)
            for _ in range(4):
                v = rng.standard_normal(t.m)
                if abs(v @ t.v_star) < 1e-3:
                    continue
                gw = t.grad(v, w)[1]
                for proxy in ("identity", "relu", "clipped_relu"):
                    eg = t.expected_coarse_grad(v, w, proxy)[1]
                    ip = float(eg @ gw)  # the plain dot product: an independent route
                    cos = ip / (np.linalg.norm(eg) * np.linalg.norm(gw))
                    worst = min(worst, cos)
                    ref = t.coarse_correlation(v, w, proxy)
                    mism = max(mism, abs(ip - ref) / max(abs(ref), 1e-300))
                    cases += 1
    held = worst > 0 and mism <= 1e-8
    return Outcome(held, worst, "min cos(E g, df/dw) over the grid; holds > 0 (and dot product "
                                "= closed-form correlation to 1e-8)",
                   f"{cases} cases; max relative mismatch with coarse_correlation {mism:.2e}")


@claim("prop1_stationary_points",
       "Prop. 1: saddles at theta_s and spurious minima at theta = pi are stationary; "
       "the spurious ones are local minima; f(v*, w*) = 0",
       SRC + ", Prop. 1; theta_s re-derived here "
       "(docs/math/two-layer-model.md#proposition-1)",
       "finite differences + random local perturbations")
def _prop1() -> Outcome:
    from theory.twolayer import TwoLayerTeacher

    rng = np.random.default_rng(8)
    worst_grad, worst_local, n_teachers = 0.0, np.inf, 0
    for _ in range(6):
        vs = rng.standard_normal(5)
        vs -= vs.mean() * 0.9  # keep (1'v*)^2 small so that the condition holds
        t = TwoLayerTeacher(vs, rng.standard_normal(4))
        sp = t.stationary_points()
        if not sp.condition:
            continue
        n_teachers += 1
        x_s = np.r_[sp.saddle_v, sp.saddle_w]
        g_s = _fd_grad(lambda x, t=t: t.loss(x[:5], x[5:]), x_s)
        g_sp = _fd_grad(lambda x, t=t, ws=sp.spurious_w: t.loss(x, ws), sp.spurious_v)
        worst_grad = max(worst_grad, float(np.max(np.abs(g_s))), float(np.max(np.abs(g_sp))))
        f0 = t.loss(sp.spurious_v, sp.spurious_w)
        for _ in range(200):
            dv, dw = rng.standard_normal(5) * 1e-3, rng.standard_normal(4) * 1e-3
            worst_local = min(worst_local, t.loss(sp.spurious_v + dv, sp.spurious_w + dw) - f0)
        worst_grad = max(worst_grad, abs(t.loss(sp.global_v, sp.global_w)))
    held = n_teachers >= 3 and worst_grad <= 1e-7 and worst_local >= -1e-12
    return Outcome(held, worst_grad, "max |FD gradient| at saddles / spurious minima and "
                                     "f(v*, w*); holds <= 1e-7",
                   f"{n_teachers} teachers; min f(perturbed) - f(spurious) = {worst_local:.3g}")


@claim("identity_ste_spurious",
       "identity STE: ||E g_id|| = 2(m-1)(1'v*)^2 / (sqrt(2 pi)(m+1)^2) != 0 at spurious minima",
       SRC + ", Lemma 7 and eq. (16)", "closed form vs Monte Carlo")
def _identity_spurious() -> Outcome:
    t = teacher()
    sp = t.stationary_points()
    if not sp.condition:
        return Outcome(False, np.nan, "", "teacher does not satisfy Prop. 1's condition")
    m, s = t.m, float(t.v_star.sum())
    formula = 2 * (m - 1) * s * s / (np.sqrt(2 * np.pi) * (m + 1) ** 2)
    eg = t.expected_coarse_grad(sp.spurious_v, sp.spurious_w, "identity")[1]
    mc = t.sample(sp.spurious_v, sp.spurious_w, "identity", 300_000, np.random.default_rng(9))
    z = float(np.max(np.abs(eg - mc.coarse_w) / mc.coarse_w_se))
    rel = abs(np.linalg.norm(eg) - formula) / formula
    held = rel <= 1e-12 and z <= 5.0 and formula > 0
    return Outcome(held, rel, "| ||E g_id|| - formula | / formula; holds <= 1e-12 (and MC "
                              "z-score <= 5)", f"||E g_id|| = {formula:.6g}, MC z = {z:.2f}")
