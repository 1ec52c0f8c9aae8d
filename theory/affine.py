r"""The exact projection onto an affine set with an integer zero point (``theory.sets.Affine``).

.. math::

    P(w) \in \arg\min \big\{\|w - \alpha(l - z\mathbf 1)\|^2 :
        \alpha \ge 0,\ z \in \{0,\dots,2^b-1\},\ l \in \{0,\dots,2^b-1\}^n\big\}.

**Derivation** (here; ``docs/math/quantization-sets.md#affine``). For a fixed zero point z the
points :math:`\alpha(l - z)` are exactly the free-scale cone over the unit levels
:math:`L_z = \{-z, \dots, 2^b-1-z\}`, whose exact projection is the breakpoint sweep
(:mod:`theory.sweep`, exact for any level table). The set is the finite union
:math:`Q = \bigcup_z Q_z`, and the distance to a union is the minimum of the distances, so

.. math:: \operatorname{dist}(w, Q)^2 = \min_{z} \operatorname{dist}(w, Q_z)^2,

attained by the projection onto the best :math:`Q_z`. No search is left unbounded: the cost is
:math:`2^b` sweeps of :math:`O(n E_z \log(n E_z))` with :math:`E_z \le 2^b - 1` events per entry,
:math:`O(4^b n \log n)` in all (16 sweeps at 4 bits, 256 at 8). **Tie rule**: the first z
(ascending) whose float64 distance is smallest; within :math:`Q_z` the tie rule of
:mod:`theory.projection`. A block of equal entries c is represented exactly (z = 0 for c > 0,
z = 1 for c < 0 (the first z with a negative level), z = 0 with scale 0 for c = 0).

**The real-offset variant** :math:`\{\alpha l + \beta\}` (β real) is not provided: for fixed
codes (α, β) is a least-squares fit, but the code changes happen on the lines
:math:`w_i = \alpha m_j + \beta` of the (α, β) plane, and an exact search must visit the
:math:`O((n 2^b)^2)` cells of that line arrangement instead of the :math:`O(n 2^b)` breakpoints
of one scale; see the docs page for the bound.
"""

from __future__ import annotations

import numpy as np

from theory.sets import Affine

__all__ = ["affine_rows"]


def affine_rows(rows: np.ndarray, qset: Affine, dtype: np.dtype
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    r"""(codes l, q, scale, dist2, zero point) of each row of (C, n) float64 ``rows``: the best of
    the :math:`2^b` exact free-scale projections onto :meth:`Affine.shifted` (module docstring).

    The zero points are compared on the rows multiplied by :math:`2^{-e}` with
    :math:`2^{e-1} \le \max|w| < 2^e` (exact, and it commutes with every projection), so the
    choice does not depend on the magnitude: distances of subnormal or huge rows would under- or
    overflow and tie. The winner is then projected on the row as given.
    """
    from theory.projection import _project_rows
    from theory.sweep import pow2_exponent

    C = rows.shape[0]
    e = pow2_exponent(np.max(np.abs(rows), axis=1))
    xs = np.ldexp(rows, -e[:, None])
    best_d = np.full(C, np.inf)
    best_z = np.zeros(C, dtype=np.int64)
    for z in qset.zero_points:  # 2^b exact projections, one per cone
        d2 = _project_rows(xs, qset.shifted(z), np.dtype(np.float64))[3]
        better = d2 < best_d  # strict: the first z wins ties
        best_d = np.where(better, d2, best_d)
        best_z = np.where(better, z, best_z)
    best_z = np.where(np.max(np.abs(rows), axis=1) > 0, best_z, 0)  # zero row: z = 0
    codes = np.zeros(rows.shape, dtype=np.int64)
    q = np.zeros(rows.shape, dtype=dtype)
    scale, d2 = np.zeros(C), np.zeros(C)
    for z in np.unique(best_z):  # the winners, one projection per zero point in use
        idx = np.flatnonzero(best_z == z)
        c, qq, a, d = _project_rows(rows[idx], qset.shifted(int(z)), dtype)
        codes[idx], q[idx], scale[idx], d2[idx] = c, qq, a, d
    return codes.astype(c.dtype), q, scale, d2, best_z
