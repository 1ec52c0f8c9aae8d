r"""The exact Euclidean projection onto a quantization set.

.. math::

    P_Q(w) \in \arg\min_{q \in Q} \|w - q\|_2^2,
    \qquad Q = \{\alpha z : z \in L^n\},

jointly over the scale :math:`\alpha \ge 0` (when free) and the codes :math:`z`.

**Fixed scale.** The problem separates: :math:`z_i` is the unit level nearest to
:math:`w_i/\alpha`.

**Free scale: the breakpoint sweep** (derived here; papers.md §A3 states it for
:math:`\{-K..K\}`, checked there against a 20001-point grid, and here against brute force in
``tests/theory/test_projection.py``). For a fixed :math:`\alpha > 0` the best codes are the
nearest levels of :math:`w/\alpha`. As :math:`\alpha` decreases from :math:`+\infty` to 0,
:math:`x_i = w_i/\alpha` moves monotonically away from 0, so code :math:`z_i` changes exactly when
:math:`x_i` crosses a midpoint :math:`m_j` of the same sign as :math:`w_i`, i.e. at the breakpoint
:math:`\alpha = w_i/m_j`. Between breakpoints the codes are constant and the objective
:math:`\|w\|^2 - 2\alpha\langle w,z\rangle + \alpha^2\|z\|^2` is a parabola. For *any* code vector
z the best scale is :math:`\alpha_z = \langle w,z\rangle_+/\|z\|^2` with value
:math:`\|w\|^2 - \langle w,z\rangle_+^2/\|z\|^2`, and this value is attained by a feasible point.
The global minimiser :math:`(\alpha^*, z^*)` has :math:`z^*` equal to a nearest-level assignment
at :math:`\alpha^*`, which the sweep visits; hence

.. math::

    \operatorname{dist}(w,Q)^2 = \|w\|^2 - \max_{z \in \text{sweep}}
        \frac{\langle w, z\rangle_+^2}{\|z\|^2},

where the sweep enumerates the codes after each breakpoint (sorted by decreasing α), tracking
:math:`\langle w,z\rangle` and :math:`\|z\|^2` by cumulative sums. Cost: one sort of |w| plus a
merge of E sorted runs, O(nE log E) with E the number of non-zero midpoints per sign (E = K for
``Uniform``, 1 for ``Ternary``: the classic top-t scan :math:`\max_t S_t^2/t`, 0 for ``Binary``:
:math:`\alpha = \|w\|_1/n`).

Finally the codes are recomputed as the nearest levels of :math:`w/\alpha^*` and the scale refitted
:math:`\alpha = \langle w,z\rangle_+/\|z\|^2`; both steps can only lower the objective, so the
returned point is a global minimiser and satisfies :math:`\langle w - q, q\rangle = 0` to rounding.

**Tie convention** (one rule everywhere): a value exactly on a midpoint goes to the level farther
from zero; a value exactly 0 on the midpoint 0 (sets without a zero level) goes to the positive
level, so ``Binary`` maps w = 0 to +α. When several code vectors attain the minimum, the sweep keeps
the first one met from α = +∞ downward (the largest scale: for ``Ternary`` the fewest non-zeros).
``P(-w) = -P(w)`` therefore holds for symmetric sets except on exact ties.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from theory._validate import as_float_array, check_axis
from theory.sets import Binary, QuantSet

__all__ = ["Projection", "project", "nearest_codes"]


@dataclass(frozen=True)
class Projection:
    """Result of :func:`project`.

    Attributes:
        q: the projected array, same shape and dtype as ``w``.
        scale: the scale α (a float, or a float64 array with one entry per slice along ``axis``).
            For a fixed-scale set it is that scale.
        codes: int64 array, same shape as ``w``: indices into ``qset.levels`` (sorted unit levels),
            so that ``q == scale * qset.levels[codes]`` (broadcast per slice).
        dist2: the squared distance ``||w - q||^2`` in float64 (a float, or one per slice).
    """

    q: np.ndarray
    scale: float | np.ndarray
    codes: np.ndarray
    dist2: float | np.ndarray


def nearest_codes(x: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Index of the nearest unit level to each entry of ``x`` (ties away from zero).

    With midpoints :math:`m_j = (l_j + l_{j+1})/2` the index is :math:`\\#\\{m_j \\le x\\}` for
    x >= 0 and :math:`\\#\\{m_j < x\\}` for x < 0.
    """
    mids = (levels[:-1] + levels[1:]) / 2.0
    right = np.searchsorted(mids, x, side="right")  # #{m <= x}
    left = np.searchsorted(mids, x, side="left")  # #{m < x}
    return np.where(x >= 0, right, left).astype(np.int64)


def _sweep_best_alpha(a: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Optimal free scale per row of ``a`` (shape (C, n), float64), by the breakpoint sweep."""
    C, n = a.shape
    mids = (levels[:-1] + levels[1:]) / 2.0
    pos_m = mids[mids > 0]  # ascending
    neg_m = mids[mids < 0][::-1]  # descending: nearest to zero first
    # Start codes (alpha = +inf): nearest level to 0+ (w >= 0) or 0- (w < 0).
    i0_pos = int(np.searchsorted(mids, 0.0, side="right"))
    i0_neg = int(np.searchsorted(mids, 0.0, side="left"))
    nonneg = a >= 0
    top = len(levels) - 1
    z0 = np.where(nonneg, levels[min(i0_pos, top)], levels[min(i0_neg, top)])
    s1_0 = np.sum(a * z0, axis=1)
    s2_0 = np.sum(z0 * z0, axis=1)

    # Events: for w_i > 0 the j-th positive midpoint, for w_i < 0 the j-th negative one.
    E = max(len(pos_m), len(neg_m))
    if E == 0:
        s1, s2 = s1_0[:, None], s2_0[:, None]
    else:
        order = np.argsort(-np.abs(a), axis=1, kind="stable")  # decreasing |w|
        a_sorted = np.take_along_axis(a, order, axis=1)
        absw = np.abs(a_sorted)
        pos = a_sorted > 0
        neg = a_sorted < 0
        keys = np.zeros((C, E, n))
        d1 = np.zeros((C, E, n))
        d2 = np.zeros((C, E, n))
        for j in range(E):  # E runs, each already sorted by decreasing alpha
            if j < len(pos_m):
                lo, hi = levels[i0_pos + j], levels[i0_pos + j + 1]
                keys[:, j] = np.where(pos, absw / pos_m[j], keys[:, j])
                d1[:, j] = np.where(pos, a_sorted * (hi - lo), d1[:, j])
                d2[:, j] = np.where(pos, hi * hi - lo * lo, d2[:, j])
            if j < len(neg_m):
                lo, hi = levels[i0_neg - j], levels[i0_neg - j - 1]  # moving outward (down)
                keys[:, j] = np.where(neg, absw / -neg_m[j], keys[:, j])
                d1[:, j] = np.where(neg, a_sorted * (hi - lo), d1[:, j])
                d2[:, j] = np.where(neg, hi * hi - lo * lo, d2[:, j])
        # For a symmetric set each run (fixed j) is already sorted by decreasing key, so the
        # stable sort (timsort) only merges E runs; for asymmetric sets it is a plain sort.
        keys = keys.reshape(C, E * n)
        perm = np.argsort(-keys, axis=1, kind="stable")
        d1 = np.take_along_axis(d1.reshape(C, E * n), perm, axis=1)
        d2 = np.take_along_axis(d2.reshape(C, E * n), perm, axis=1)
        s1 = np.concatenate([s1_0[:, None], s1_0[:, None] + np.cumsum(d1, axis=1)], axis=1)
        s2 = np.concatenate([s2_0[:, None], s2_0[:, None] + np.cumsum(d2, axis=1)], axis=1)
    s1p = np.maximum(s1, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(s2 > 0, s1p * s1p / np.where(s2 > 0, s2, 1.0), 0.0)
    k = np.argmax(value, axis=1)
    best_s1 = np.take_along_axis(s1p, k[:, None], axis=1)[:, 0]
    best_s2 = np.take_along_axis(s2, k[:, None], axis=1)[:, 0]
    return np.where(best_s2 > 0, best_s1 / np.where(best_s2 > 0, best_s2, 1.0), 0.0)


def _ternary_best_alpha(a: np.ndarray) -> np.ndarray:
    """Exact ternary scale per row: alpha = S_t*/t*, t* = argmax_t S_t^2/t (top-t scan)."""
    s = -np.sort(-np.abs(a), axis=1)
    S = np.cumsum(s, axis=1)
    t = np.arange(1, a.shape[1] + 1, dtype=np.float64)
    k = np.argmax(S * S / t, axis=1)
    return np.take_along_axis(S, k[:, None], axis=1)[:, 0] / (k + 1.0)


def _fit(a: np.ndarray, levels: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes = nearest levels of a/alpha, then the least-squares refit of alpha (rows)."""
    zero_code = nearest_codes(np.zeros(1), levels)[0]
    safe = np.where(alpha > 0, alpha, 1.0)[:, None]
    codes = np.where(alpha[:, None] > 0, nearest_codes(a / safe, levels), zero_code)
    z = levels[codes]
    s1 = np.sum(a * z, axis=1)
    s2 = np.sum(z * z, axis=1)
    refit = np.where((s2 > 0) & (s1 > 0), s1 / np.where(s2 > 0, s2, 1.0), 0.0)
    return codes, refit


def project(w: object, qset: QuantSet, axis: int | None = None) -> Projection:
    r"""Exact Euclidean projection of ``w`` onto ``qset`` (jointly over scale and codes).

    .. math:: P_Q(w) \in \arg\min_{\alpha \ge 0,\; z \in L^n} \|w - \alpha z\|^2

    Args:
        w: real floating array (float16/32/64), non-empty and finite. Computed in float64.
        qset: a :class:`theory.sets.QuantSet`.
        axis: ``None`` for one scale for the whole tensor, or the axis whose slices get one scale
            each (``axis=0``: one scale per output channel of a (C_out, ...) weight).

    Returns:
        :class:`Projection` with ``q`` (same shape and dtype as w), ``scale``, ``codes`` (indices
        into ``qset.levels``) and ``dist2``.

    Raises:
        TypeError: ``qset`` is not a QuantSet; ``w`` has a non-floating dtype.
        ValueError: ``w`` is empty or non-finite; ``axis`` out of range.

    Source: binary mean|w| and ternary top-t scan, papers.md §A1-A2; the general sweep is
    derived in this module's docstring. Tie convention: see the module docstring.

    Example:
        >>> import numpy as np
        >>> from theory import project, Ternary
        >>> r = project(np.array([0.1, -2.0, 1.5, 0.2]), Ternary())
        >>> r.q.tolist(), round(r.scale, 6)
        ([0.0, -1.75, 1.75, 0.0], 1.75)
    """
    if not isinstance(qset, QuantSet):
        raise TypeError(f"qset must be a theory.sets.QuantSet, got {type(qset).__name__}")
    arr = as_float_array(w, "w")
    ax = check_axis(axis, arr.ndim)
    shape, dtype = arr.shape, arr.dtype
    if ax is None:
        rows = arr.astype(np.float64).reshape(1, -1)
    else:
        rows = np.moveaxis(arr, ax, 0).astype(np.float64).reshape(arr.shape[ax], -1)
    levels = qset.levels

    if qset.scale is not None:
        alpha = np.full(rows.shape[0], qset.scale)
        codes = nearest_codes(rows / qset.scale, levels)
    else:
        if isinstance(qset, Binary):
            alpha = np.mean(np.abs(rows), axis=1)
        elif qset.unit_levels == (-1.0, 0.0, 1.0):
            alpha = _ternary_best_alpha(rows)
        else:
            alpha = _sweep_best_alpha(rows, levels)
        codes, alpha = _fit(rows, levels, alpha)
    q_rows = alpha[:, None] * levels[codes]
    dist2 = np.sum((rows - q_rows) ** 2, axis=1)

    if ax is None:
        q = q_rows.reshape(shape)
        codes_out = codes.reshape(shape)
        return Projection(q.astype(dtype), float(alpha[0]), codes_out, float(dist2[0]))
    moved = (shape[ax],) + tuple(s for i, s in enumerate(shape) if i != ax)
    q = np.moveaxis(q_rows.reshape(moved), 0, ax)
    codes_out = np.moveaxis(codes.reshape(moved), 0, ax)
    return Projection(q.astype(dtype), alpha, codes_out, dist2)
