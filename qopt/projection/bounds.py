r"""Bounds on the sweep's value over a range of scales, from a bucket summary (derived here).

Setting (a symmetric free-scale set, :mod:`qopt.projection.tables`): on :math:`u = |w|` the sweep
state at scale :math:`\alpha` applies every event (entry i, midpoint j) of key
:math:`u_i/m_j \ge \alpha`; its value is :math:`V = s_1^2/s_2` with
:math:`s_1 = z_0\sum_i u_i + \sum g_j u_i`, :math:`s_2 = n z_0^2 + \sum d_j` over the applied
events, and :math:`\operatorname{dist}^2 = \|w\|^2 - \max V` (:mod:`theory.sweep`).

**Interval bound.** Fix :math:`[a, b]` and a row's buckets :math:`[L_k, U_k)` with counts
:math:`N_k` and sums :math:`S_k` (:mod:`qopt.projection.summary`). For midpoint j, a bucket with
:math:`L_k \ge b\,m_j` has all keys :math:`\ge b`: its events are applied at every
:math:`\alpha \le b` ("definite", buckets :math:`k \ge k_b(j)`); a bucket with
:math:`U_k \le a\,m_j` has no key :math:`\ge a`; the rest (:math:`k_a(j) \le k < k_b(j)`) are
"uncertain". Every state with :math:`\alpha \in [a, b]` is the definite state D plus a subset T
of the uncertain events. An event of entry u at midpoint j has :math:`\Delta s_2 = d_j > 0` and
slope :math:`\Delta s_1/\Delta s_2 = u g_j/d_j \in [\sigma^-_j, \sigma^+_j]`, the bucket edges
of j's uncertain range times :math:`g_j/d_j`. With :math:`x_j, y_j` the sums over
:math:`T` of j's events and :math:`X_j, \Delta_j` over all of j's uncertain events (exact from
the bucket sums),

.. math::  0 \le y_j \le \Delta_j, \qquad
           x_j \le h_j(y_j) = \min(\sigma^+_j y_j,\; X_j - \sigma^-_j(\Delta_j - y_j)),

a concave function with one kink. V increases with :math:`x = \sum_j x_j`, so
:math:`V \le \max_y (s_1^D + F(y))^2/(s_2^D + y)` with :math:`F(y) = \max\{\sum_j h_j(y_j) :
\sum_j y_j = y\}`, the concave piecewise-linear function that takes the 2E linear pieces of the
:math:`h_j` in decreasing order of slope (a fractional knapsack). On each piece the bound is a
quadratic over a linear function of y, convex, so its maximum is at a breakpoint:

.. math::  \bar V([a, b]) = \max_{\text{breakpoints } y_i} (s_1^D + F(y_i))^2/(s_2^D + y_i),

which includes y = 0 (the state D) and :math:`y = \sum_j \Delta_j` (H, D plus every uncertain
event). Keeping the slopes per midpoint matters for sets with many levels, where the keys of one
bucket span :math:`h/m_j`, widest for the innermost midpoint.

D and H are valid code vectors (an entry moves across a prefix of its midpoints, since
:math:`k_b(j)` and :math:`k_a(j)` grow with j), so :math:`\max(V_D, V_H)` over all intervals is
an *attainable* value, a lower bound :math:`\underline V` of :math:`\max V`. An interval with
:math:`\bar V < \underline V (1 - \tau)` cannot hold the optimum nor a tie with it.
The bound is second order in the width of the interval and of the buckets (the slack is at most
:math:`\sum_j (\sigma^+_j - \sigma^-_j)\Delta_j`), so a fine grid of intervals near the optimum
excludes all but a few buckets per midpoint.

Rounding: bucket sums and their suffix sums carry a relative error of at most
:math:`(n + n_b)\varepsilon_{64}`; :func:`tolerance` covers the resulting error of every V
(with a factor 4 and a floor of 1e-12). Bucket membership is decided on exact float edges,
with the products :math:`a m_j`, :math:`b m_j` widened by 4 ulps to the safe side.
"""

from __future__ import annotations

import numpy as np

from qopt.projection.summary import Summary
from qopt.projection.tables import SymmetricEvents

__all__ = ["suffix_sums", "edge_at_least", "edge_above", "interval_bounds", "tolerance",
           "value"]

_EPS = np.finfo(np.float64).eps


def tolerance(n: np.ndarray, nb: int, E: int) -> np.ndarray:
    """Relative tolerance of the exclusion test per row (module docstring)."""
    return 1e-12 + 8.0 * (np.asarray(n, dtype=np.float64) + nb + E + 16) * _EPS


def value(s1: np.ndarray, s2: np.ndarray) -> np.ndarray:
    """(s1)_+^2 / s2, and 0 where s2 = 0."""
    s1p = np.maximum(s1, 0.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.where(s2 > 0, s1p * s1p / np.where(s2 > 0, s2, 1.0), 0.0)


def suffix_sums(sm: Summary) -> tuple[np.ndarray, np.ndarray]:
    """(CN, CS), each (R, nb + 1): count and sum of the buckets k' >= k (0 at k = nb)."""
    R = sm.counts.shape[0]
    CN = np.zeros((R, sm.nb + 1), dtype=np.int64)
    CS = np.zeros((R, sm.nb + 1))
    np.cumsum(sm.counts[:, ::-1], axis=1, out=CN[:, -2::-1])
    np.cumsum(sm.sums[:, ::-1], axis=1, out=CS[:, -2::-1])
    return CN, CS


def edge_at_least(x: np.ndarray, sm: Summary) -> np.ndarray:
    """Per row (axis 0), the smallest k in [0, nb] with k h >= x (nb if none; x >= 0)."""
    h = sm.h.reshape((-1,) + (1,) * (x.ndim - 1))
    with np.errstate(over="ignore", invalid="ignore"):
        k = np.ceil(np.minimum(x / h, sm.nb + 1.0))  # x/h: a power-of-two scaling, exact
    return np.clip(k, 0, sm.nb).astype(np.int64)


def edge_above(y: np.ndarray, sm: Summary) -> np.ndarray:
    """Per row, the smallest k in [1, nb + 1] with k h > y (y >= 0)."""
    h = sm.h.reshape((-1,) + (1,) * (y.ndim - 1))
    with np.errstate(over="ignore", invalid="ignore"):
        k = np.floor(np.minimum(y / h, sm.nb + 1.0)) + 1
    return np.clip(k, 1, sm.nb + 1).astype(np.int64)


def interval_bounds(sm: Summary, ev: SymmetricEvents, n: np.ndarray, a: np.ndarray,
                    b: np.ndarray, CN: np.ndarray, CS: np.ndarray) -> dict:
    """Bounds over the intervals ``[a[r, p], b[r, p]]`` (``a`` may be 0, ``b`` may be inf).

    Returns ``vub`` (the bound), ``vD``, ``vH`` (values of the attainable states D and H) and
    their scales ``aD``, ``aH`` (= s1/s2), all (R, P); values in units of ``top_r^2`` where
    ``top_r`` is the power of two at or above the row's maximum.
    """
    R, P = a.shape
    m, g, dd = (np.array(v, dtype=np.float64) for v in (ev.mids, ev.gaps, ev.dd))
    E = len(m)
    with np.errstate(over="ignore", invalid="ignore"):
        xb = b[:, :, None] * m * (1.0 + 4 * _EPS)  # widen to the safe side
        ya = a[:, :, None] * m * (1.0 - 4 * _EPS)
    xb = np.where(np.isnan(xb), np.inf, xb)
    kb = edge_at_least(xb, sm)  # definite: k >= kb
    ka = np.minimum(edge_above(ya, sm) - 1, kb)  # uncertain: ka <= k < kb
    flat = (R, P * E)
    cnb = np.take_along_axis(CN, kb.reshape(flat), 1).reshape(R, P, E).astype(np.float64)
    csb = np.take_along_axis(CS, kb.reshape(flat), 1).reshape(R, P, E)
    cna = np.take_along_axis(CN, ka.reshape(flat), 1).reshape(R, P, E).astype(np.float64)
    csa = np.take_along_axis(CS, ka.reshape(flat), 1).reshape(R, P, E)
    _, t = np.frexp(np.maximum(sm.top, np.finfo(np.float64).tiny))
    unit = np.ldexp(1.0, -t)[:, None]  # s1 in units of 2^t >= top (exact)
    s1_0 = (ev.z0 * CS[:, 0])[:, None] * unit
    s2_0 = (np.asarray(n, dtype=np.float64) * ev.z0 * ev.z0)[:, None]
    s1D = s1_0 + (csb * g).sum(2) * unit
    s2D = s2_0 + (cnb * dd).sum(2)
    # per midpoint j: uncertain totals X_j (s1, normalised), D_j (s2) and slope bounds
    Xj = (csa - csb) * g * unit[:, :, None]
    Dj = (cna - cnb) * dd
    slope = g / dd * unit[:, :, None]
    sp = kb * sm.h[:, None, None] * slope  # upper edge of the highest uncertain bucket
    sm_ = ka * sm.h[:, None, None] * slope  # lower edge of the lowest one
    with np.errstate(divide="ignore", invalid="ignore"):
        yk = np.where(sp > sm_, (Xj - sm_ * Dj) / np.where(sp > sm_, sp - sm_, 1.0), Dj)
    yk = np.clip(np.where(np.isfinite(yk), yk, Dj), 0.0, Dj)
    # the concave majorant h_j: slope sp on [0, yk], slope sm_ on [yk, D_j]; the best sum of
    # h_j for a total y takes the pieces by decreasing slope (fractional knapsack)
    sl = np.concatenate([sp, sm_], axis=2)
    ln = np.concatenate([yk, Dj - yk], axis=2)
    o = np.argsort(-sl, axis=2, kind="stable")
    sl, ln = np.take_along_axis(sl, o, 2), np.take_along_axis(ln, o, 2)
    Y = np.concatenate([np.zeros((R, P, 1)), np.cumsum(ln, axis=2)], axis=2)
    F = np.concatenate([np.zeros((R, P, 1)), np.cumsum(sl * ln, axis=2)], axis=2)
    F = np.minimum(F, (Xj.sum(2))[:, :, None])  # never above the all-applied total
    X, D = Xj.sum(2), Dj.sum(2)
    vD, vH = value(s1D, s2D), value(s1D + X, s2D + D)
    vub = np.maximum(np.max(value(s1D[:, :, None] + F, s2D[:, :, None] + Y), axis=2),
                     np.maximum(vD, vH))
    with np.errstate(divide="ignore", invalid="ignore"):
        aD = np.where(s2D > 0, s1D / np.where(s2D > 0, s2D, 1.0), 0.0) / unit
        aH = np.where(s2D + D > 0, (s1D + X) / np.where(s2D + D > 0, s2D + D, 1.0), 0.0) / unit
    return {"vub": vub, "vD": vD, "vH": vH, "aD": aD, "aH": aH, "E": E}
