r"""The optimal free scale of the projection onto a cone :math:`Q = \{\alpha z : z \in L^n\}`.

.. math::

    \alpha^* \in \arg\min_{\alpha \ge 0}\; \min_{z \in L^n} \|w - \alpha z\|^2 .

**The breakpoint sweep** (derived here; papers.md §A3 states it for :math:`\{-K..K\}`, checked
there against a 20001-point grid, and here against brute force over all codes in
``tests/theory/test_projection.py``). For a fixed :math:`\alpha > 0` the best codes are the
nearest levels of :math:`w/\alpha` (:mod:`theory.coding`). As :math:`\alpha` decreases from
:math:`+\infty` to 0, :math:`x_i = w_i/\alpha` moves monotonically away from 0, so code
:math:`z_i` changes exactly when :math:`x_i` crosses a midpoint :math:`m_j` of the same sign as
:math:`w_i`, i.e. at the breakpoint (*event*) :math:`\alpha = |w_i|/|m_j|`; it then moves one level
outward, adding :math:`|w_i|\,\mathrm{gap}_j > 0` to :math:`s_1 = \langle w,z\rangle` and
:math:`\mathrm{hi}_j^2 - \mathrm{lo}_j^2 > 0` to :math:`s_2 = \|z\|^2`. For *any* code vector z the
best scale is :math:`\alpha_z = (s_1)_+/s_2` with value :math:`\|w\|^2 - (s_1)_+^2/s_2`, attained by
a feasible point; the global minimiser has :math:`z^*` = nearest levels at :math:`\alpha^*`, which
the sweep visits. Hence

.. math::

    \operatorname{dist}(w,Q)^2 = \|w\|^2 - \max_{\text{sweep states}} (s_1)_+^2 / s_2 .

Visiting extra valid code vectors never hurts (each value is attainable), which is what makes the
two accelerations below exact:

* *pruning* — along the sweep :math:`s_1, s_2` only increase, so every state between two known
  states A (earlier) and B (later) has value at most :math:`(s_1^B)_+^2 / s_2^A`. States at a few
  probes are computed exactly (prefix sums of sorted :math:`|w|`); stretches whose bound is below
  the best probe are skipped, and only the events of the remaining window are sorted and scanned;
* *one sort* — the events of the window are merged by one stable sort of their breakpoints; runs
  are concatenated in midpoint order so equal breakpoints of one weight keep their order.

Single-run sets (``Ternary``, ``Uniform(2)``, ``Symmetric(2)``: one positive midpoint) use the
classic top-t scan :math:`\max_t (z_0 U + g S_t)^2/(n z_0^2 + d t)` (:math:`S_t` = sum of the t
largest :math:`|w_i|`; ternary: :math:`\max_t S_t^2/t`, papers.md §A2) on blocks of the sorted
:math:`|w|`, pruned the same way. ``Binary`` has no event: :math:`\alpha = \|w\|_1/n` (§A1).

When several states attain the maximum, the first one met from :math:`\alpha = +\infty` downward
is kept (the largest scale), as the tie convention of :mod:`theory.projection` states.
"""

from __future__ import annotations

import numpy as np

__all__ = ["best_scale"]

_BLOCK = 1024  # block length of the single-run scan
_SLACK = 1e-9  # relative slack on pruning bounds (rounding of block sums vs. the exact scan)


def _runs(levels: np.ndarray) -> tuple[float, float, list[tuple[int, float, float, float]]]:
    """Start levels (nearest to 0+ and to 0-) and the event runs (side, |m|, gap, hi^2 - lo^2).

    Side 0: w >= 0, crossing the positive midpoints upward; side 1: w < 0, the negative midpoints
    downward. Runs are listed nearest-to-zero first on each side.
    """
    mids = (levels[:-1] + levels[1:]) / 2.0
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


def _value(s1: np.ndarray, s2: np.ndarray) -> np.ndarray:
    """(s1)_+^2 / s2, and 0 where s2 = 0 (the zero vector)."""
    s1p = np.maximum(s1, 0.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.where(s2 > 0, s1p * s1p / np.where(s2 > 0, s2, 1.0), 0.0)


def _pick(row: np.ndarray, val: np.ndarray, pos: np.ndarray, C: int) -> np.ndarray:
    """Per row, the index of the best candidate: largest value, then earliest sweep position."""
    order = np.lexsort((pos, -val, row))
    first = np.ones(len(order), dtype=bool)
    first[1:] = row[order][1:] != row[order][:-1]
    return order[first]


def _pow2_inverse(top: np.ndarray) -> np.ndarray:
    """2^-e with top = m 2^e (m in [0.5, 1)), 1 where top = 0: an exact rescaling that keeps
    squared sums of very large or very small weights inside the float64 range."""
    _, e = np.frexp(top)
    return np.where(top > 0, np.ldexp(1.0, -e), 1.0)


def _single_run_alpha(
    u: np.ndarray, z0: float, g: float, dd: float
) -> tuple[np.ndarray, np.ndarray]:
    """Best scale for a symmetric set with one positive midpoint (top-t scan with block pruning).

    ``u``: |w| sorted ascending per row. States t = 0..n (t largest entries moved up one level):
    s1 = z0*U + g*S_t, s2 = n*z0^2 + dd*t. Returns (alpha, t*) per row.
    """
    C, n = u.shape
    nb, r = divmod(n, _BLOCK)
    base1, base2 = z0 * u.sum(axis=1), n * z0 * z0
    blocks = u[:, r:].reshape(C, nb, _BLOCK)
    S_b = np.zeros((C, nb + 1))
    np.cumsum(blocks.sum(axis=2)[:, ::-1], axis=1, out=S_b[:, 1:])  # sums at block boundaries
    t_b = _BLOCK * np.arange(nb + 1, dtype=np.float64)
    nrm = _pow2_inverse(u[:, -1])[:, None]  # values are compared in units of max|w|
    V_b = _value(nrm * (base1[:, None] + g * S_b), base2 + dd * t_b)
    rows_c, vals_c, t_c, S_c = [], [], [], []
    kb = np.argmax(V_b, axis=1)
    rows_c.append(np.arange(C))
    vals_c.append(V_b[np.arange(C), kb])
    t_c.append(t_b[kb])
    S_c.append(S_b[np.arange(C), kb])
    lb = vals_c[0]
    # as in _window_alpha: events of block k have d1/d2 = u*g/dd <= (its largest u)*g/dd
    top_u = blocks[:, ::-1, -1] if nb else np.zeros((C, 0))
    c = top_u * (g / dd) * (1.0 + 1e-12)
    ub = np.maximum(V_b[:, :-1], _value(
        nrm * (base1[:, None] + g * S_b[:, :-1] + c * dd * _BLOCK), base2 + dd * t_b[1:]))
    ri, ki = np.nonzero(ub * (1.0 + _SLACK) >= lb[:, None])
    segs = [(ri, blocks[ri, nb - 1 - ki][:, ::-1], S_b[ri, ki], ki * float(_BLOCK))]
    if r:
        segs.append((np.arange(C), u[:, :r][:, ::-1], S_b[:, nb], np.full(C, nb * float(_BLOCK))))
    for ri, seg, S0, t0 in segs:
        if len(ri) == 0:
            continue
        cs = np.cumsum(seg, axis=1) + S0[:, None]
        t = t0[:, None] + np.arange(1, seg.shape[1] + 1)
        V = _value(nrm[ri] * (base1[ri, None] + g * cs), base2 + dd * t)
        k = np.argmax(V, axis=1)
        ar = np.arange(len(ri))
        rows_c.append(ri)
        vals_c.append(V[ar, k])
        t_c.append(t[ar, k])
        S_c.append(cs[ar, k])
    row, val, tt, SS = (np.concatenate(a) for a in (rows_c, vals_c, t_c, S_c))
    best = _pick(row, val, tt, C)
    s1, s2 = base1[row[best]] + g * SS[best], base2 + dd * tt[best]
    alpha, t_best = np.zeros(C), np.zeros(C, dtype=np.int64)
    alpha[row[best]] = np.where(s2 > 0, np.maximum(s1, 0.0) / np.where(s2 > 0, s2, 1.0), 0.0)
    t_best[row[best]] = tt[best]
    return alpha, t_best


def _count_ge(u: np.ndarray, thr: np.ndarray) -> np.ndarray:
    """#{j : u[c, j] >= thr[c, k]} for rows of ``u`` sorted ascending (batched binary search)."""
    C, n = u.shape
    if C == 1:
        return n - np.searchsorted(u[0], thr[0], side="left")[None, :]
    lo = np.zeros(thr.shape, dtype=np.int64)
    hi = np.full(thr.shape, n, dtype=np.int64)
    rows = np.arange(C)[:, None]
    for _ in range(n.bit_length() + 1):
        active = lo < hi
        mid = (lo + hi) // 2
        less = u[rows, np.minimum(mid, n - 1)] < thr
        lo = np.where(active & less, mid + 1, lo)
        hi = np.where(active & ~less, mid, hi)
    return n - lo


def _window_alpha(
    rows: np.ndarray, z0p: float, z0n: float, runs: list, symmetric: bool, probes: int = 64
) -> np.ndarray:
    """Best scale by the pruned breakpoint sweep (any level set). See the module docstring."""
    C, n = rows.shape
    if symmetric:
        sides = [np.sort(np.abs(rows), axis=1)]
    else:
        sides = [np.sort(np.maximum(rows, 0.0), axis=1), np.sort(np.maximum(-rows, 0.0), axis=1)]
    nrm = _pow2_inverse(np.max([sd[:, -1] for sd in sides], axis=0))
    for sd in sides:  # exact power-of-two rescaling to units of max|w|; alpha is scaled back
        sd *= nrm[:, None]
    pref = [np.concatenate([np.zeros((C, 1)), np.cumsum(s, axis=1)], axis=1) for s in sides]
    if symmetric:
        s1_0, s2_0 = z0p * pref[0][:, -1], np.full(C, n * z0p * z0p)
    else:
        n_neg = np.count_nonzero(rows < 0, axis=1)
        s1_0 = z0p * pref[0][:, -1] - z0n * pref[1][:, -1]
        s2_0 = (n - n_neg) * z0p * z0p + n_neg * z0n * z0n
    # probes: breakpoints at quantiles of every run, plus alpha = +inf (start) and 0+ (end)
    per_run = max(2, min(n, int(np.clip(len(runs) * n // 256, probes, 1 << 14)) // len(runs)))
    pos = np.unique(np.linspace(0, n - 1, per_run).astype(np.int64))
    alph = [sides[sd][:, pos] / m for sd, m, _, _ in runs]
    alph = np.concatenate([np.full((C, 1), np.inf), *alph, np.zeros((C, 1))], axis=1)
    alph = -np.sort(-alph, axis=1)  # decreasing scale = sweep order
    tiny = np.finfo(np.float64).smallest_subnormal  # u >= tiny  <=>  u > 0
    with np.errstate(over="ignore"):
        thr = [np.maximum(alph * m, tiny) for _, m, _, _ in runs]
    cnt = [_count_ge(sides[sd], t) for (sd, _, _, _), t in zip(runs, thr)]
    s1, s2 = s1_0[:, None].copy(), s2_0[:, None].astype(np.float64)
    for (sd, _, g, dd), c in zip(runs, cnt):
        p = pref[sd]
        s1 = s1 + g * (p[:, -1:] - np.take_along_axis(p, n - c, axis=1))
        s2 = s2 + dd * c
    V = _value(s1, s2)
    lb = V.max(axis=1)
    # Inside interval p every event has d1/d2 = key/2 <= c_p = (largest key in it)/2, so its
    # states lie below the segment from (s1_p, s2_p) with slope c_p; (s1)_+^2/s2 is convex along
    # it, hence at most the larger endpoint value.
    c = 0.5 * np.minimum(alph[:, :-1], alph[:, 1:2]) * (1.0 + 1e-12)
    ub = np.maximum(V[:, :-1], _value(s1[:, :-1] + c * (s2[:, 1:] - s2[:, :-1]), s2[:, 1:]))
    keep = ub * (1.0 + _SLACK) >= lb[:, None]
    p_hi = np.argmax(keep, axis=1)
    p_lo = keep.shape[1] - np.argmax(keep[:, ::-1], axis=1)
    ar = np.arange(C)
    keys, d1, d2 = [], [], []
    for (sd, m, g, dd), c in zip(runs, cnt):
        lo_i, hi_i = n - c[ar, p_lo], n - c[ar, p_hi]
        L = int(np.max(hi_i - lo_i))
        idx = lo_i[:, None] + np.arange(L)
        valid = idx < hi_i[:, None]
        uu = np.take_along_axis(sides[sd], np.minimum(idx, n - 1), axis=1)
        with np.errstate(over="ignore"):
            keys.append(np.where(valid, uu / m, -1.0))
        d1.append(np.where(valid, uu * g, 0.0))
        d2.append(np.where(valid, dd, 0.0))
    keys, d1, d2 = (np.concatenate(a, axis=1) for a in (keys, d1, d2))
    order = np.argsort(-keys, axis=1, kind="stable")
    S1 = np.concatenate([s1[ar, p_hi][:, None], np.take_along_axis(d1, order, axis=1)], axis=1)
    S2 = np.concatenate([s2[ar, p_hi][:, None], np.take_along_axis(d2, order, axis=1)], axis=1)
    np.cumsum(S1, axis=1, out=S1)
    np.cumsum(S2, axis=1, out=S2)
    k = np.argmax(_value(S1, S2), axis=1)
    b1, b2 = S1[ar, k], S2[ar, k]
    return np.where(b2 > 0, np.maximum(b1, 0.0) / np.where(b2 > 0, b2, 1.0), 0.0) / nrm


def best_scale(rows: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Optimal free scale α* per row of ``rows`` (shape (C, n), float64) for unit ``levels``.

    Exact up to float64 rounding (the breakpoint sweep of the module docstring).
    """
    z0p, z0n, runs = _runs(levels)
    symmetric = bool(np.array_equal(levels, -levels[::-1]))
    if symmetric:  # both sides see the same runs: sweep |w| once
        runs = [r for r in runs if r[0] == 0]
    if not runs:
        _, n = rows.shape
        s1 = z0p * np.sum(np.maximum(rows, 0.0), axis=1) + z0n * np.sum(np.minimum(rows, 0.0), 1)
        s2 = np.where(rows >= 0, z0p * z0p, z0n * z0n).sum(axis=1)
        return np.where(s2 > 0, np.maximum(s1, 0.0) / np.where(s2 > 0, s2, 1.0), 0.0)
    if symmetric and len(runs) == 1:
        u = np.abs(rows)
        u.sort(axis=1)
        _, _, g, dd = runs[0]
        return _single_run_alpha(u, z0p, g, dd)[0]
    return _window_alpha(rows, z0p, z0n, runs, symmetric)
