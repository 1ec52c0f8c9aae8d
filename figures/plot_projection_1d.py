r"""Projection, Moreau envelope and BinaryRelax's relaxed prox map in one dimension.

For a fixed-scale quantization set :math:`Q = \alpha L` (binary, ternary, symmetric:2) and a scalar
weight w, one row per set shows

* the projection :math:`P_Q(w) = \arg\min_{q\in Q}|w-q|` (a staircase; jumps at the midpoints),
* the Moreau envelope of the indicator, :math:`e_{1/\lambda}\chi_Q(w) =
  \tfrac\lambda2\operatorname{dist}(w,Q)^2` (piecewise parabolas, kinks at the midpoints), and
* the relaxed prox :math:`\operatorname{prox}(w) = (w + \lambda P_Q(w))/(1+\lambda)`
  (BinaryRelax's pseudo-quantized weight, Yin et al. 2018; derived in
  ``docs/math/binaryrelax.md#prox``): slope :math:`1/(1+\lambda)` between the
  jumps, tending to :math:`P_Q` as λ → ∞ and to the identity as λ → 0,

at several λ. All values come from :mod:`theory` (``project``, ``moreau_envelope``, ``prox``);
nothing is recomputed here. The symmetric:2 set is UniQ's 4-level 2-bit grid
:math:`\tfrac23\{\pm\tfrac12, \pm\tfrac32\} = \{\pm\tfrac13, \pm1\}` (``symmetric:2@0.667``),
scaled to span [-1, 1] like the other two.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from figures.style import FigureResult, new_figure, paper_style, save_figure, sequential_colors
from theory import Binary, QuantSet, Symmetric, Ternary, moreau_envelope, project, prox

__all__ = ["DEFAULT_SETS", "DEFAULT_LAMS", "plot_projection_1d"]

#: (label, set) pairs drawn by default: one row each.
DEFAULT_SETS: tuple[tuple[str, QuantSet], ...] = (
    ("binary", Binary(scale=1.0)),
    ("ternary", Ternary(scale=1.0)),
    ("symmetric:2", Symmetric(2, scale=2.0 / 3.0)),
)
#: The λ values drawn by default (envelope and prox columns).
DEFAULT_LAMS: tuple[float, ...] = (0.5, 2.0, 8.0)


def plot_projection_1d(out_dir: str | os.PathLike, *, n_points: int = 801, lim: float = 1.8,
                       lams: Sequence[float] = DEFAULT_LAMS,
                       sets: Sequence[tuple[str, QuantSet]] = DEFAULT_SETS,
                       name: str = "projection_1d") -> FigureResult:
    """Draw the figure and write ``name.pdf`` / ``name.png`` into ``out_dir``.

    Args:
        n_points: grid size on [-lim, lim] (>= 3). lams: the λ > 0 values. sets: (label, set)
            pairs; every set must have a fixed scale (a 1-d cone projection is the identity).

    Returns:
        :class:`FigureResult` whose ``data`` holds ``w`` (the grid) and, per set label,
        ``{"levels", "proj", "envelope": {λ: array}, "prox": {λ: array}}``.
    """
    if not isinstance(n_points, int) or n_points < 3:
        raise ValueError(f"n_points must be an integer >= 3, got {n_points!r}")
    if not (np.isfinite(lim) and lim > 0):
        raise ValueError(f"lim must be a finite positive number, got {lim!r}")
    lams = [float(x) for x in lams]
    if not lams or any(not (np.isfinite(x) and x > 0) for x in lams):
        raise ValueError(f"lams must be a non-empty sequence of finite λ > 0, got {lams!r}")
    if not sets:
        raise ValueError("sets must be a non-empty sequence of (label, QuantSet) pairs")
    for label, qs in sets:
        if not isinstance(qs, QuantSet) or qs.is_cone:
            raise ValueError(f"set {label!r} must be a QuantSet with a fixed scale, got {qs!r}")

    w = np.linspace(-lim, lim, n_points)
    data: dict = {"w": w, "lams": tuple(lams)}
    for label, qs in sets:
        proj = project(w, qs).q
        env = {lam: np.array([moreau_envelope(np.array([x]), qs, lam) for x in w])
               for lam in lams}
        prx = {lam: prox(w, qs, lam) for lam in lams}
        data[label] = {"levels": qs.levels * qs.scale, "proj": proj, "envelope": env,
                       "prox": prx}

    with paper_style():
        fig, axes = new_figure(3, len(sets), width="page", aspect=0.62, sharex=True)
        colors = sequential_colors(len(lams))  # λ is ordered: dark = small, light = large
        for row, (label, qs) in enumerate(sets):
            d = data[label]
            lv = d["levels"]
            ax_p, ax_e, ax_x = axes[row]
            ax_p.plot(w, w, color="0.7", lw=0.7, ls="--", label="identity")
            ax_p.plot(w, _break_jumps(d["proj"]), color="k", label=r"$P_Q(w)$")
            ax_p.plot(lv, lv, "o", color="k", ms=3, label="levels")
            ax_p.set_ylabel(f"{label}\n" + r"$P_Q(w)$")
            for c, lam in zip(colors, lams):
                ax_e.plot(w, d["envelope"][lam], color=c, label=rf"$\lambda={lam:g}$")
                ax_x.plot(w, _break_jumps(d["prox"][lam]), color=c, label=rf"$\lambda={lam:g}$")
            ax_x.plot(w, w, color="0.7", lw=0.7, ls="--")
            ax_e.set_ylabel(r"$\frac{\lambda}{2}\,\mathrm{dist}(w,Q)^2$")
            ax_x.set_ylabel(r"$\mathrm{prox}(w)$")
            for ax in (ax_p, ax_e, ax_x):
                for m in qs.midpoints * qs.scale:
                    ax.axvline(m, color="0.8", lw=0.5, ls=":", zorder=0)
        axes[0, 0].set_title("projection")
        axes[0, 1].set_title(r"Moreau envelope $e_{1/\lambda}\chi_Q$")
        axes[0, 2].set_title(r"relaxed prox $(w+\lambda P_Q(w))/(1+\lambda)$")
        for ax in axes[-1]:
            ax.set_xlabel(r"weight $w$")
        axes[0, 0].legend(loc="upper left")
        fig.legend(*axes[0, 1].get_legend_handles_labels(), loc="outside lower center",
                   ncol=len(lams))
        return save_figure(fig, out_dir, name, data)


def _break_jumps(y: np.ndarray) -> np.ndarray:
    """Copy of ``y`` with NaN inserted where it jumps, so a staircase has no vertical risers."""
    y = np.asarray(y, dtype=np.float64).copy()
    dy = np.abs(np.diff(y))
    typical = np.median(dy) if dy.size else 0.0
    jumps = np.flatnonzero(dy > 20 * typical + 1e-12)
    y[jumps] = np.nan
    return y
