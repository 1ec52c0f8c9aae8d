r"""The optimal free scale of the projection onto a cone :math:`Q = \{\alpha z : z \in L^n\}`.

.. math::

    \alpha^* \in \arg\min_{\alpha \ge 0}\; \min_{z \in L^n} \|w - \alpha z\|^2 .

**The breakpoint sweep** (derived here, ``docs/math/quantization-sets.md#multi-bit``; checked
against brute force over all code vectors in ``tests/theory/test_projection.py``). For a
fixed :math:`\alpha > 0` the best codes are the nearest levels of :math:`w/\alpha`
(:mod:`theory.coding`). As :math:`\alpha` decreases from
:math:`+\infty` to 0, :math:`x_i = w_i/\alpha` moves monotonically away from 0, so code
:math:`z_i` changes exactly when :math:`x_i` crosses a midpoint :math:`m_j` of the same sign as
:math:`w_i`, i.e. at the breakpoint (*event*) :math:`\alpha = |w_i|/|m_j|` (its *key*); it then
moves one level outward, from lo to hi, adding :math:`|w_i|\,|hi - lo| > 0` to
:math:`s_1 = \langle w,z\rangle` and :math:`hi^2 - lo^2 > 0` to :math:`s_2 = \|z\|^2`. For *any*
code vector z the best scale is :math:`\alpha_z = (s_1)_+/s_2` with value
:math:`\|w\|^2 - (s_1)_+^2/s_2`, attained by a feasible point; the global minimiser has
:math:`z^*` = nearest levels at :math:`\alpha^*`, which the sweep visits. Hence

.. math::

    \operatorname{dist}(w,Q)^2 = \|w\|^2 - \max_{\text{sweep states}} (s_1)_+^2 / s_2 .

The sweep starts from :math:`z^0` (every entry at the level nearest to 0 of its sign, the codes
for :math:`\alpha \to \infty`), applies all events in decreasing key order (one stable sort; the
events of one entry are listed innermost midpoint first, so equal keys keep the order in which
the codes must move) and keeps the first state of largest value, i.e. the largest scale among
equal values (the tie convention of :mod:`theory.projection`). Special cases: ``Binary`` has no
event and gives :math:`\alpha = \|w\|_1/n` (the released BinaryRelax/BCGD code's ``quantize_bw``;
``docs/math/quantization-sets.md#binary``); ``Ternary`` has one event per entry and gives the
top-t scan :math:`\max_t S_t^2/t` over the sums :math:`S_t` of the t largest :math:`|w_i|`
(derived here; attributed in the literature to Yin et al. 2016, not checked;
``docs/math/quantization-sets.md#ternary``).

**Range.** :func:`theory.projection.project` calls the sweep on rows and levels multiplied by
powers of two into (-1, 1) (:func:`pow2_exponent`). Scaling by a power of two is exact (the keys,
their order and every ratio are unchanged) and keeps :math:`s_1^2` inside the float64 range for
any finite input, from subnormal entries to entries near the largest float.

Cost: :math:`O(En \log(En))` time and :math:`O(En)` memory per row for E events per entry; this
is the plain reference, not a fast path (:mod:`qopt.projection` is the fast implementation, checked
against this one).
"""

from __future__ import annotations

import numpy as np

from theory.sets import level_midpoints

__all__ = ["best_scale", "sweep_runs", "pow2_exponent"]


def sweep_runs(levels: np.ndarray) -> tuple[float, float, list[tuple[int, float, float, float]]]:
    """Start levels (nearest to 0+ and to 0-) and the event runs ``(side, |m|, gap, hi^2-lo^2)``.

    Side 0: entries w >= 0, crossing the positive midpoints upward; side 1: w < 0, the negative
    midpoints downward. Runs are listed innermost (nearest to zero) first on each side.
    """
    mids = level_midpoints(levels)
    i0p = int(np.searchsorted(mids, 0.0, side="right"))  # #{m <= 0}: level nearest 0+
    i0n = int(np.searchsorted(mids, 0.0, side="left"))  # #{m < 0}: level nearest 0-
    runs = []
    for i in range(i0p, len(mids)):
        lo, hi = levels[i], levels[i + 1]
        runs.append((0, float(mids[i]), float(hi - lo), float(hi * hi - lo * lo)))
    for i in range(i0n - 1, -1, -1):
        lo, hi = levels[i + 1], levels[i]
        runs.append((1, float(-mids[i]), float(lo - hi), float(hi * hi - lo * lo)))
    return float(levels[i0p]), float(levels[i0n]), runs


def pow2_exponent(top: np.ndarray) -> np.ndarray:
    """e with :math:`2^{e-1} \\le top < 2^e` (0 where top = 0): ``w * 2.0**-e`` lies in (-1, 1)."""
    _, e = np.frexp(np.asarray(top, dtype=np.float64))
    return np.where(np.asarray(top) > 0, e, 0)


def _best_scale_row(w: np.ndarray, levels: np.ndarray) -> float:
    """The sweep of the module docstring on one row ``w`` (float64, already scaled into (-1, 1))."""
    z0p, z0n, runs = sweep_runs(levels)
    pos = w >= 0
    z0 = np.where(pos, z0p, z0n)
    s1_0, s2_0 = float(np.dot(w, z0)), float(np.dot(z0, z0))
    keys, d1, d2 = [], [], []
    for side, m, gap, dd in runs:  # one block of n events per midpoint, innermost first
        mine = pos if side == 0 else ~pos
        u = np.abs(w)
        keys.append(np.where(mine, u / m, -np.inf))  # other-sign entries: never applied
        d1.append(np.where(mine, u * gap, 0.0))
        d2.append(np.where(mine, dd, 0.0))
    if keys:
        # events of one entry: the block order is innermost first, so a stable sort of the
        # decreasing keys keeps it where keys tie (u = 0) and interleaves the entries correctly
        key = np.concatenate(keys)
        order = np.argsort(-key, kind="stable")
        s1 = s1_0 + np.concatenate([[0.0], np.cumsum(np.concatenate(d1)[order])])
        s2 = s2_0 + np.concatenate([[0.0], np.cumsum(np.concatenate(d2)[order])])
    else:
        s1, s2 = np.array([s1_0]), np.array([s2_0])
    s1p = np.maximum(s1, 0.0)
    value = np.where(s2 > 0, s1p * s1p / np.where(s2 > 0, s2, 1.0), 0.0)
    k = int(np.argmax(value))  # the first maximum: largest scale among equal values
    return float(s1p[k] / s2[k]) if s2[k] > 0 else 0.0


def best_scale(rows: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Optimal free scale α* per row of ``rows`` (shape (C, n), float64) for unit ``levels``.

    The breakpoint sweep of the module docstring (exact up to float64 rounding of its sums).
    The caller passes rows and levels already scaled by powers of two into (-1, 1)
    (:func:`pow2_exponent`), as :func:`theory.projection.project` does, so that no sum over- or
    underflows; the scale is returned in those units.
    """
    rows = np.asarray(rows, dtype=np.float64)
    return np.array([_best_scale_row(r, levels) for r in rows])  # independent problems
