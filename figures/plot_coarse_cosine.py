r"""Expected coarse gradient vs true gradient in the two-linear-layer model: cosine against θ.

Model (STE paper, Yin et al. 2019b; ``docs/math/two-layer-model.md#model``;
:class:`theory.twolayer.TwoLayerTeacher`): :math:`y = v^\top\sigma(Zw)`,
σ the binary step, f the population loss. For each STE proxy μ ∈ {identity, ReLU, clipped ReLU}
the curve is the closed form
:math:`\cos\angle(E_Z[g_\mu], \partial f/\partial w)` (``TwoLayerTeacher.coarse_cosine``) along
:math:`w(\theta) = \|w\|(\cos\theta\,u + \sin\theta\,e)` with u = w*/‖w*‖ and e a fixed unit vector
⟂ u, at v = v*. The points are Monte Carlo: B independent batches of Z
(``TwoLayerTeacher.sample``), ḡ the mean of the batch means, point = cos∠(ḡ, ∂f/∂w) and error
bar = one standard error by the delta method,

.. math::

    \mathrm{SE} = \sqrt{\nabla c^\top \hat\Sigma \nabla c},\quad
    \nabla_g \cos\angle(g, d) = \frac{\hat d}{\|g\|} - \cos\angle(g,d)\frac{g}{\|g\|^2},

with :math:`\hat\Sigma` the sample covariance of the batch means divided by B [derived here].
At v = v*, identity and ReLU give the same cosine :math:`\cos(\theta/2)` (derived here from
Lemmas 5 and 7: both have :math:`E g \propto (1-\cos\theta)\hat w - \sin\theta\,e_\perp`); the
clipped ReLU depends on ‖w‖ (the clip breaks scale invariance), so one panel per ‖w‖.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from figures.labels import ste_label
from figures.style import FigureResult, color_for, new_figure, paper_style, save_figure
from theory.proxies import PROXIES
from theory.twolayer import TwoLayerTeacher

__all__ = ["default_teacher", "plot_coarse_cosine", "unit_perp"]

def default_teacher(m: int = 5, n: int = 4, seed: int = 0) -> TwoLayerTeacher:
    """The teacher of the two-layer figures: v*, w* with i.i.d. N(0,1) entries from ``seed``."""
    rng = np.random.default_rng(seed)
    return TwoLayerTeacher(rng.standard_normal(m), rng.standard_normal(n))


def unit_perp(teacher: TwoLayerTeacher) -> np.ndarray:
    """A unit vector ⟂ u: the normalised component of the basis vector least aligned with u."""
    u = teacher.u
    k = int(np.argmin(np.abs(u)))
    e = np.eye(teacher.n)[k] - u[k] * u
    return e / np.linalg.norm(e)


def _mc_cosine(t: TwoLayerTeacher, v: np.ndarray, w: np.ndarray, proxy: str, n_mc: int,
               n_batches: int, rng: np.random.Generator) -> tuple[float, float]:
    d = t.grad(v, w)[1]
    per = max(1, n_mc // n_batches)
    g = np.array([t.sample(v, w, proxy, per, rng).coarse_w for _ in range(n_batches)])
    gbar = g.mean(axis=0)
    ng, nd = np.linalg.norm(gbar), np.linalg.norm(d)
    c = float(gbar @ d / (ng * nd))
    grad_c = d / (nd * ng) - c * gbar / ng**2
    cov = np.cov(g, rowvar=False) / n_batches
    return c, float(np.sqrt(max(grad_c @ cov @ grad_c, 0.0)))


def plot_coarse_cosine(out_dir: str | os.PathLike, *, n_theta: int = 181, n_mc_theta: int = 9,
                       n_mc: int = 40_000, n_batches: int = 20,
                       norms_w: Sequence[float] = (1.0, 2.5),
                       teacher: TwoLayerTeacher | None = None, seed: int = 0,
                       name: str = "coarse_cosine") -> FigureResult:
    """Draw the figure and write ``name.pdf`` / ``name.png`` into ``out_dir``.

    Args:
        n_theta: points of each closed-form curve on (0, π). n_mc_theta: θ values with Monte
            Carlo points. n_mc: samples of Z per point, split into ``n_batches`` (>= 2) batches.
        norms_w: ‖w‖ of each panel. teacher: default :func:`default_teacher`. seed: MC seed.

    Returns:
        :class:`FigureResult`; ``data[norm]`` = ``{"theta", proxy: curve, "mc_theta",
        "mc": {proxy: (cos, se)}}`` plus ``data["v"]``.
    """
    for nm, val, lo in (("n_theta", n_theta, 2), ("n_mc_theta", n_mc_theta, 1),
                        ("n_mc", n_mc, 2), ("n_batches", n_batches, 2)):
        if not isinstance(val, int) or val < lo:
            raise ValueError(f"{nm} must be an integer >= {lo}, got {val!r}")
    norms_w = [float(x) for x in norms_w]
    if not norms_w or any(not (np.isfinite(x) and x > 0) for x in norms_w):
        raise ValueError(f"norms_w must be a non-empty sequence of positive norms, got {norms_w}")
    t = teacher if teacher is not None else default_teacher()
    rng = np.random.default_rng(seed)
    v = t.v_star.copy()
    u, e = t.u, unit_perp(t)
    eps = 1e-3
    theta = np.linspace(eps, np.pi - eps, n_theta)
    mc_theta = np.linspace(np.pi / (n_mc_theta + 1), np.pi * n_mc_theta / (n_mc_theta + 1),
                           n_mc_theta)
    data: dict = {"v": v, "norms_w": tuple(norms_w)}
    for nw in norms_w:
        def w_of(th: float, nw: float = nw) -> np.ndarray:
            return nw * (np.cos(th) * u + np.sin(th) * e)

        d: dict = {"theta": theta, "mc_theta": mc_theta, "mc": {}}
        for p in PROXIES:
            d[p] = np.array([t.coarse_cosine(v, w_of(th), p) for th in theta])
            d["mc"][p] = np.array([_mc_cosine(t, v, w_of(th), p, n_mc, n_batches, rng)
                                   for th in mc_theta])
        data[nw] = d

    with paper_style():
        fig, axes = new_figure(len(norms_w), 1, aspect=1.3, sharey=True)
        for ax, nw in zip(axes[0], norms_w):
            d = data[nw]
            for i, p in enumerate(PROXIES):
                c = color_for(p)
                ls = "--" if p == "relu" else "-"  # relu coincides with identity at v = v*
                ax.plot(theta, d[p], color=c, ls=ls, label=ste_label(p))
                off = (i - 1) * 0.025  # small horizontal dodge so error bars do not overlap
                ax.errorbar(mc_theta + off, d["mc"][p][:, 0], yerr=d["mc"][p][:, 1], fmt="o",
                            color=c, ms=2.5, elinewidth=0.8, mfc="white", mew=0.8)
            ax.set_title(rf"$\|w\| = {nw:g}$, $v = v^*$")
            ax.set_xlabel(r"angle $\theta(w, w^*)$")
            ax.set_xticks([0, np.pi / 4, np.pi / 2, 3 * np.pi / 4, np.pi],
                          ["0", r"$\pi/4$", r"$\pi/2$", r"$3\pi/4$", r"$\pi$"])
            ax.set_xlim(0, np.pi)
        axes[0, 0].set_ylabel(r"$\cos\angle(E\,g_\mu,\ \partial f/\partial w)$")
        first = axes[0, 0]
        first.plot([], [], "o", color="0.3", mfc="white", ms=2.5,
                   label=f"Monte Carlo ±1 SE (n = {n_mc:,})")
        fig.legend(*first.get_legend_handles_labels(), loc="outside lower center", ncol=2)
        return save_figure(fig, out_dir, name, data)
