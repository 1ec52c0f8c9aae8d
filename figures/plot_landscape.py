r"""Loss landscape of the two-linear-layer model, Proposition 1's stationary points, and
coarse-gradient-descent trajectories for each STE proxy.

**Reduced landscape [derived here].** By Lemma 1 of the STE paper (Yin et al. 2019b;
``docs/math/two-layer-model.md#lemma-1``) f depends on w only through
θ = ∠(w, w*): :math:`f = \tfrac18[v^\top Av - 2v^\top b(\theta) + v^{*\top}Av^*]` with
:math:`A = I + 11^\top`, :math:`b(\theta) = (1-\tfrac{2\theta}\pi)v^* + (1^\top v^*)1`. Every
stationary point of Proposition 1 has v on the line where ∂f/∂v = 0 and is characterised by
(θ, s) with :math:`s = v^\top v^*/\|v^*\|^2`: global minimum (0, 1), saddles (θ_s, 0), spurious
minima (π, s_π). We draw the profile

.. math::

    F(\theta, s) = \min_{v:\ v^\top v^* = s\|v^*\|^2} f(v, \theta)
        = \tfrac18\big[\mu^2\,v^{*\top}A^{-1}v^* - b^\top A^{-1}b + v^{*\top}Av^*\big],\quad
    \mu = \frac{s\|v^*\|^2 - v^{*\top}A^{-1}b}{v^{*\top}A^{-1}v^*},

attained at :math:`v = A^{-1}(b + \mu v^*)` (Lagrange condition of a convex quadratic with one
linear constraint). Each stationary point lies on this surface (it minimises f over v at its θ),
and every iterate (θ_t, s_t) of coarse gradient descent projects onto it. The iterates come from
``TwoLayerTeacher.coarse_gradient_descent`` (Algorithm 1, closed-form expected coarse gradients);
panels (b), (c) show f and ‖w‖ along them: near the spurious minimum the identity STE's expected
coarse gradient does not vanish (Lemma 8), ‖w‖ is driven to 0 and f jumps, while ReLU and clipped
ReLU settle.

Several trajectories of (b) and (c) end on the same plateau, and from the start near the
spurious minimum the ReLU and clipped-ReLU curves coincide to within 0.02 decades over all
steps (and so do their trajectories in (a)): lines alone would hide one under the other. Each
curve of (a), (b) and (c) therefore also carries its STE's marker (:data:`STE_MARKERS`) at a few
steps, staggered per curve, so every series shows marks of its own wherever the lines overlap.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from figures.labels import ste_label
from figures.plot_coarse_cosine import default_teacher, unit_perp
from figures.style import FigureResult, color_for, new_figure, paper_style, save_figure
from theory.proxies import PROXIES
from theory.twolayer import TwoLayerTeacher

__all__ = ["STE_MARKERS", "plot_landscape", "profile_loss", "profile_v"]

#: marker of each STE proxy's curves in panels (b), (c)
STE_MARKERS = {"identity": "o", "relu": "s", "clipped_relu": "^"}
#: markers per curve in panels (b), (c)
_N_MARKS = 5

def _profile_parts(t: TwoLayerTeacher, theta: np.ndarray) -> tuple[np.ndarray, ...]:
    vs = t.v_star
    a = np.eye(t.m) + np.ones((t.m, t.m))
    ainv_vs = np.linalg.solve(a, vs)
    ainv_1 = np.linalg.solve(a, np.ones(t.m))
    c = 1.0 - 2.0 * np.asarray(theta, dtype=np.float64) / np.pi
    big_s = vs.sum()
    return vs, a, ainv_vs, ainv_1, c, big_s


def profile_v(t: TwoLayerTeacher, theta: float, s: float) -> np.ndarray:
    r"""The minimiser :math:`v = A^{-1}(b(\theta) + \mu v^*)` of f(·, θ) on
    :math:`\{v^\top v^* = s\|v^*\|^2\}` (module docstring)."""
    vs, _, ainv_vs, ainv_1, c, big_s = _profile_parts(t, np.float64(theta))
    ainv_b = c * ainv_vs + big_s * ainv_1
    mu = (s * (vs @ vs) - vs @ ainv_b) / (vs @ ainv_vs)
    return ainv_b + mu * ainv_vs


def profile_loss(t: TwoLayerTeacher, theta: np.ndarray, s: np.ndarray) -> np.ndarray:
    """F(θ, s) of the module docstring, vectorised (θ and s broadcast against each other)."""
    theta, s = np.broadcast_arrays(np.asarray(theta, float), np.asarray(s, float))
    vs, a, ainv_vs, ainv_1, c, big_s = _profile_parts(t, theta)
    n2, q = vs @ vs, vs @ ainv_vs
    r1, r11 = vs @ ainv_1, np.ones(t.m) @ ainv_1
    vs_ainv_b = c * q + big_s * r1
    b_ainv_b = c * c * q + 2 * c * big_s * r1 + big_s * big_s * r11
    mu = (s * n2 - vs_ainv_b) / q
    return (mu * mu * q - b_ainv_b + vs @ a @ vs) / 8.0


def _inits(t: TwoLayerTeacher, rng: np.random.Generator) -> list[tuple[str, np.ndarray, float]]:
    sp = t.stationary_points()
    out = []
    if sp.spurious_v is not None:
        out.append(("near spurious min.", sp.spurious_v + 0.05 * rng.standard_normal(t.m),
                    np.pi - 0.3))
    if sp.saddle_v is not None:
        out.append(("near saddle", sp.saddle_v + 0.05 * rng.standard_normal(t.m),
                    sp.saddle_theta - 0.05))
    out.append(("random", 0.5 * rng.standard_normal(t.m), 2.0))
    return out


def plot_landscape(out_dir: str | os.PathLike, *, steps: int = 3000, lr: float = 0.5,
                   grid: int = 160, proxies: Sequence[str] = PROXIES,
                   teacher: TwoLayerTeacher | None = None, seed: int = 1,
                   name: str = "twolayer_landscape") -> FigureResult:
    """Draw the figure and write ``name.pdf`` / ``name.png`` into ``out_dir``.

    Args:
        steps, lr: coarse gradient descent length and step size. grid: contour resolution.
        proxies: STE proxies with trajectories. teacher: default :func:`default_teacher`
            (m = 5, n = 4, Prop. 1's condition holds). seed: initial-point seed.

    Returns:
        :class:`FigureResult`; ``data`` has ``theta``, ``s``, ``F`` (grid × grid),
        ``stationary`` ({name: (θ, s, f)}), ``trajectories`` ({(init, proxy): Trajectory}) and
        ``s_traj`` ({(init, proxy): s_t}).
    """
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    if not isinstance(grid, int) or grid < 8:
        raise ValueError(f"grid must be an integer >= 8, got {grid!r}")
    t = teacher if teacher is not None else default_teacher()
    rng = np.random.default_rng(seed)
    u, e = t.u, unit_perp(t)
    n2 = float(t.v_star @ t.v_star)
    sp = t.stationary_points()
    stat = {"global min.": (0.0, 1.0, t.loss(sp.global_v, sp.global_w))}
    if sp.spurious_v is not None:
        stat["spurious min."] = (np.pi, float(sp.spurious_v @ t.v_star) / n2,
                                 t.loss(sp.spurious_v, sp.spurious_w))
    if sp.saddle_v is not None:
        stat["saddle"] = (float(sp.saddle_theta), float(sp.saddle_v @ t.v_star) / n2,
                          t.loss(sp.saddle_v, sp.saddle_w))
    trajs, s_traj = {}, {}
    for label, v0, th0 in _inits(t, rng):
        w0 = np.cos(th0) * u + np.sin(th0) * e
        for p in proxies:
            tr = t.coarse_gradient_descent(v0, w0, p, lr, steps)
            trajs[(label, p)] = tr
            s_traj[(label, p)] = tr.v @ t.v_star / n2
    s_all = np.concatenate([np.array([x[1] for x in stat.values()]), *s_traj.values()])
    s_lo, s_hi = min(-1.2, s_all.min() - 0.1), max(1.2, s_all.max() + 0.1)
    theta = np.linspace(0.0, np.pi, grid)
    s = np.linspace(s_lo, s_hi, grid)
    big_f = profile_loss(t, theta[None, :], s[:, None])
    data = {"theta": theta, "s": s, "F": big_f, "stationary": stat, "trajectories": trajs,
            "s_traj": s_traj}

    with paper_style():
        fig, axes = new_figure(3, 1, width="page", aspect=0.85)
        ax, ax_f, ax_w = axes[0]
        levels = np.quantile(big_f, np.linspace(0, 1, 22))
        cs = ax.contourf(theta, s, big_f, levels=np.unique(levels), cmap="Greys_r", alpha=0.8)
        fig.colorbar(cs, ax=ax, label=r"$F(\theta,s)=\min_v f$", format="%.2f", shrink=0.9)
        markers = {"global min.": "*", "spurious min.": "v", "saddle": "X"}
        for key, (th_, s_, _) in stat.items():
            ax.plot(th_, s_, markers[key], color="k", mfc="yellow", ms=6, mew=0.6, zorder=5,
                    label=key, clip_on=False)
        styles = ["-", "--", ":", "-."]
        inits = list(dict.fromkeys(k[0] for k in trajs))
        n_curves = len(trajs)
        for i_curve, ((label, p), tr) in enumerate(trajs.items()):
            c, ls = color_for(p), styles[inits.index(label) % len(styles)]
            th_plot = tr.theta.copy()
            th_plot[1:][np.abs(np.diff(tr.theta)) > 1.0] = np.nan  # w crossed 0: θ jumps
            k = np.arange(tr.loss.size)
            every = max(1, k.size // _N_MARKS)
            marks = {"marker": STE_MARKERS.get(p, "o"), "ms": 2.8, "mew": 0.5, "mfc": "white",
                     "markevery": (int(every * (i_curve + 0.5) / n_curves) % every, every)}
            ax.plot(th_plot, s_traj[(label, p)], color=c, ls=ls, lw=1.0, **marks)
            ax.plot(tr.theta[0], s_traj[(label, p)][0], "o", color="k", ms=2.5)
            ax_f.plot(k, np.maximum(tr.loss, 1e-12), color=c, ls=ls, lw=1.0, **marks)
            ax_w.plot(k, tr.norm_w, color=c, ls=ls, lw=1.0, **marks)
        ax.set_xlim(0, np.pi)
        ax.set_xticks([0, np.pi / 2, np.pi], ["0", r"$\pi/2$", r"$\pi$"])
        ax.set_xlabel(r"angle $\theta(w, w^*)$")
        ax.set_ylabel(r"$s = v^\top v^*/\|v^*\|^2$")
        ax.set_title("(a) reduced landscape, stationary points")
        ax.legend(loc="lower left", fontsize=6)
        ax_f.set_yscale("log")
        ax_f.set_xlabel("coarse GD step")
        ax_f.set_ylabel(r"population loss $f(v_t, w_t)$")
        ax_f.set_title(rf"(b) loss ($\eta = {lr:g}$, floor $10^{{-12}}$)")
        ax_w.set_xlabel("coarse GD step")
        ax_w.set_ylabel(r"$\|w_t\|$")
        ax_w.set_title(r"(c) weight norm")
        for p in proxies:
            ax_w.plot([], [], color=color_for(p), marker=STE_MARKERS.get(p, "o"), ms=2.8,
                      mew=0.5, mfc="white", label=ste_label(p))
        for i, label in enumerate(inits):
            ax_w.plot([], [], color="0.3", ls=styles[i % len(styles)], label=f"start: {label}")
        fig.legend(*ax_w.get_legend_handles_labels(), loc="outside lower center",
                   ncol=3 + len(inits))
        return save_figure(fig, out_dir, name, data)
