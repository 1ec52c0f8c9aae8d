r"""The exact Euclidean projection onto a quantization set.

.. math::

    P_Q(w) \in \arg\min_{q \in Q} \|w - q\|_2^2,
    \qquad Q = \{\alpha z : z \in L^n\},

jointly over the scale :math:`\alpha \ge 0` (when free) and the codes :math:`z`.

**Fixed scale.** The problem separates: :math:`z_i` is the unit level nearest to
:math:`w_i/\alpha`.

**Free scale: the breakpoint sweep** (derived here; papers.md §A3 states it for
:math:`\{-K..K\}`, checked there against a 20001-point grid, and here against brute force over all
codes in ``tests/theory/test_projection.py``). For a fixed :math:`\alpha > 0` the best codes are
the nearest levels of :math:`w/\alpha`. As :math:`\alpha` decreases from :math:`+\infty` to 0,
:math:`x_i = w_i/\alpha` moves monotonically away from 0, so code :math:`z_i` changes exactly when
:math:`x_i` crosses a midpoint :math:`m_j` of the same sign as :math:`w_i`, i.e. at the breakpoint
(*event*) :math:`\alpha = |w_i|/|m_j|`; it then moves one level outward, adding
:math:`|w_i|\,\mathrm{gap}_j > 0` to :math:`s_1 = \langle w,z\rangle` and
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

Finally the codes are recomputed as the nearest levels of :math:`w/\alpha^*` and the scale refitted
:math:`\alpha = \langle w,z\rangle_+/\|z\|^2`; both steps can only lower the objective, so the
returned point is a global minimiser and satisfies :math:`\langle w - q, q\rangle = 0` to rounding.

**Tie convention** (one rule everywhere, applied to :math:`y = \mathrm{fl}(w/\alpha)`): a value
exactly on a midpoint goes to the level farther from zero; a value exactly 0 on the midpoint 0
(sets without a zero level) goes to the positive level, so ``Binary`` maps w = 0 to +α. When several
code vectors attain the minimum, the sweep keeps the first one met from α = +∞ downward (the
largest scale: for ``Ternary`` the fewest non-zeros). ``P(-w) = -P(w)`` therefore holds for
symmetric sets except on exact ties.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from theory._validate import all_finite, as_float_array, check_axis
from theory.sets import QuantSet

__all__ = ["Projection", "project", "nearest_codes", "best_scale"]

_BLOCK = 1024  # block length of the single-run scan
_SLACK = 1e-9  # relative slack on pruning bounds (rounding of block sums vs. the exact scan)


@dataclass(frozen=True)
class Projection:
    """Result of :func:`project`.

    Attributes:
        q: the projected array, same shape and dtype as ``w``.
        scale: the scale α (a float, or a float64 array with one entry per slice along ``axis``).
            For a fixed-scale set it is that scale.
        codes: integer array, same shape as ``w``: indices into ``qset.levels`` (sorted unit
            levels), in the smallest signed dtype that holds them (:func:`code_dtype`: int8 up to
            127 levels),
            so that ``q == scale * qset.levels[codes]`` (broadcast per slice).
        dist2: ``||w - q||^2`` in float64 for the float64 projected point (a float, or one per
            slice); for float16/32 input ``q`` is that point rounded to the input dtype.
    """

    q: np.ndarray
    scale: float | np.ndarray
    codes: np.ndarray
    dist2: float | np.ndarray


def code_dtype(n_levels: int) -> np.dtype:
    """Smallest signed integer dtype holding the level indices 0..n_levels-1.

    int8 for up to 127 levels (every set of <= 7 bits), int16 up to 32767, else int32. A narrow
    dtype cuts the memory traffic of the final pass (8x less than int64 for the codes array).
    """
    for dt in (np.int8, np.int16, np.int32):
        if n_levels - 1 <= np.iinfo(dt).max:
            return np.dtype(dt)
    return np.dtype(np.int64)


def nearest_codes(x: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Index of the nearest unit level to each entry of ``x`` (ties away from zero).

    With midpoints :math:`m_j = (l_j + l_{j+1})/2` the index is :math:`\\#\\{m_j \\le x\\}` for
    x >= 0 and :math:`\\#\\{m_j < x\\}` for x < 0 (the module's tie convention).
    """
    mids = (levels[:-1] + levels[1:]) / 2.0
    right = np.searchsorted(mids, x, side="right")  # #{m <= x}
    left = np.searchsorted(mids, x, side="left")  # #{m < x}
    return np.where(x >= 0, right, left).astype(np.int64)


# -- nearest levels, fast ------------------------------------------------------------------------
class _Coder:
    """Nearest-level codes of ``y`` (= w/α) for a sorted level array, with the tie convention.

    Arithmetic fast paths (exact: the division by a power of two d is exact): symmetric levels
    ``d*{-K..K}`` (rint, ties pushed away from zero) and ``d*{±1/2, ±3/2, ...}`` (floor for y >= 0,
    ceil for y < 0, since the midpoints are the integers). Any other set uses :func:`nearest_codes`.
    """

    def __init__(self, levels: np.ndarray) -> None:
        self.levels = levels
        k = len(levels)
        self.kind, self.d = "generic", 1.0
        if k >= 2 and np.array_equal(levels, -levels[::-1]):
            d = float(levels[-1] - levels[-2])
            pow2 = d > 0 and np.frexp(d)[0] == 0.5
            j = np.arange(k, dtype=np.float64)
            if pow2 and np.array_equal(levels, d * (j - (k - 1) / 2.0)):
                self.kind, self.d = ("int" if k % 2 else "half"), d
        self.zero_code = int(nearest_codes(np.zeros(1), levels)[0])

    def codes(self, y: np.ndarray) -> np.ndarray:
        k = len(self.levels)
        if self.kind == "generic":
            return nearest_codes(y, self.levels)
        t = y / self.d
        with np.errstate(invalid="ignore"):
            if self.kind == "int":
                K = (k - 1) // 2
                r = np.rint(t)
                dl = t - r
                r += (dl == 0.5) & (t > 0)
                r -= (dl == -0.5) & (t < 0)
                np.clip(r, -K, K, out=r)
                r += K
            else:
                h = k // 2
                # the sign of y, not of t: y/d can underflow to -0.0 for a subnormal y < 0
                r = np.where(y >= 0, np.floor(t) + h, np.ceil(t) + (h - 1))
                np.clip(r, 0, k - 1, out=r)
        return r.astype(np.int64)

    def values(self, codes: np.ndarray) -> np.ndarray:
        """Unit level values ``levels[codes]`` (bitwise equal), as float64."""
        if self.kind == "generic":
            return self.levels.take(codes)
        return (codes - (len(self.levels) - 1) / 2.0) * self.d


def _blocks(C: int, n: int, target: int = 1 << 16):
    """Cache blocks (r0, r1, c0, c1) of a (C, n) array, each with >= min(target, C*n) entries."""
    if n >= target:
        for r in range(C):
            for c0 in range(0, n, target):
                yield r, r + 1, c0, min(n, c0 + target)
    else:
        R = max(1, target // n)
        for r0 in range(0, C, R):
            yield r0, min(C, r0 + R), 0, n


def _apply(
    rows: np.ndarray, alpha: np.ndarray, coder: _Coder, refit: bool, out_dtype: np.dtype
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Codes = nearest levels of rows/alpha; optional refit of alpha; q; dist2 (cache-blocked)."""
    C, n = rows.shape
    codes = np.empty((C, n), dtype=code_dtype(len(coder.levels)))
    q = np.empty((C, n), dtype=out_dtype)
    dist = np.zeros(C)
    inv = np.where(alpha > 0, alpha, np.inf)[:, None]  # x/inf = ±0: the zero code when alpha = 0
    if refit:
        s1, s2 = np.zeros(C), np.zeros(C)
        for r0, r1, c0, c1 in _blocks(C, n):
            x = rows[r0:r1, c0:c1]
            cb = coder.codes(x / inv[r0:r1])
            codes[r0:r1, c0:c1] = cb
            v = coder.values(cb)
            s1[r0:r1] += np.einsum("ij,ij->i", x, v)
            s2[r0:r1] += np.einsum("ij,ij->i", v, v)
        ok = (s1 > 0) & (s2 > 0)
        alpha = np.where(ok, s1 / np.where(ok, s2, 1.0), 0.0)
        if not np.all(ok):
            codes[~ok] = coder.zero_code
    for r0, r1, c0, c1 in _blocks(C, n):
        x = rows[r0:r1, c0:c1]
        if refit:
            cb = codes[r0:r1, c0:c1]
        else:
            cb = coder.codes(x / inv[r0:r1])
            codes[r0:r1, c0:c1] = cb
        qb = alpha[r0:r1, None] * coder.values(cb)
        q[r0:r1, c0:c1] = qb
        qb -= x
        dist[r0:r1] += np.einsum("ij,ij->i", qb, qb)
    return codes, q, alpha, dist


def _x_threshold(alpha: np.ndarray, c: float) -> np.ndarray | None:
    """Per row, the smallest float x with fl(x / alpha) >= c (inf where alpha = 0).

    Since fl(x/alpha) is monotone in x, ``x >= T`` decides ``fl(x/alpha) >= c`` exactly, so the
    comparison replaces the division without changing the tie convention. None if the search
    (a few ``nextafter`` steps from alpha*c) does not settle.
    """
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        a = np.where(alpha > 0, alpha, 1.0)
        x = a * c
        for _ in range(16):
            hit = x / a >= c
            lower = np.nextafter(x, 0.0)
            down = hit & (lower / a >= c)
            if not (down.any() or (~hit).any()):
                return np.where(alpha > 0, x, np.inf)
            x = np.where(down, lower, np.where(hit, x, np.nextafter(x, np.inf)))
    return None


def _sign_block(x, T, step, cb, qf, f, g, lo, z, three):
    """One cache block of the fused pass (same-dtype ufuncs only: mixed-type loops are slow)."""
    np.greater_equal(x, T, out=g)
    if three:
        np.less_equal(x, -T, out=lo)
        np.subtract(g.view(np.int8), lo.view(np.int8), out=z)
        z += 1
        cb[...] = z
        z -= 1
    else:
        cb[...] = g
        np.multiply(g.view(np.int8), 2, out=z)
        z -= 1
    qf[...] = z
    qf *= step
    np.subtract(qf, x, out=f)
    return np.einsum("ij,ij->i", f, f)


def _apply_sign(
    rows: np.ndarray, alpha: np.ndarray, coder: _Coder, out_dtype: np.dtype,
    q_buffer: np.ndarray | None = None, codes_buffer: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Fused codes/q/dist2 pass for levels d*{-1,0,1} and d*{-1/2,+1/2} by comparisons only.

    ``q_buffer``/``codes_buffer``: float64/code_dtype (C, n) scratch arrays to receive q and the
    codes (saves fresh allocations).
    Returns None if the exact threshold search fails (the caller then uses ``_apply``).
    """
    C, n = rows.shape
    three = len(coder.levels) == 3
    if three:
        T = _x_threshold(alpha, 0.5 * coder.d)
        if T is None:
            return None
        step = alpha * coder.d
    else:
        T, step = np.zeros(C), alpha * (0.5 * coder.d)
    if codes_buffer is None:
        codes_buffer = np.empty((C, n), dtype=code_dtype(len(coder.levels)))
    codes = codes_buffer
    f64 = out_dtype == np.float64
    q64 = q_buffer if (q_buffer is not None and f64) else np.empty((C, n))
    blocks = list(_blocks(C, n))
    shp = (blocks[0][1] - blocks[0][0], blocks[0][3] - blocks[0][2])

    def work(part: list) -> np.ndarray:
        acc = np.zeros(C)
        g, lo = np.empty(shp, dtype=bool), np.empty(shp, dtype=bool)
        z, f = np.empty(shp, dtype=np.int8), np.empty(shp)
        for r0, r1, c0, c1 in part:
            r, c = r1 - r0, c1 - c0
            acc[r0:r1] += _sign_block(
                rows[r0:r1, c0:c1], T[r0:r1, None], step[r0:r1, None], codes[r0:r1, c0:c1],
                q64[r0:r1, c0:c1], f[:r, :c], g[:r, :c], lo[:r, :c], z[:r, :c], three)
        return acc

    dist = work(blocks)
    q = q64 if f64 else q64.astype(out_dtype)
    return codes, q, alpha, dist


# -- the sweep -----------------------------------------------------------------------------------
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


def _project_rows(
    rows: np.ndarray, qset: QuantSet, dtype: np.dtype
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(codes, q, scale, dist2) for each row of ``rows`` (C, n), float64."""
    C, n = rows.shape
    levels = qset.levels
    coder = _Coder(levels)
    sign = (coder.kind == "int" and len(levels) == 3) or (coder.kind == "half" and len(levels) == 2)
    ternary = sign and len(levels) == 3 and qset.scale is None
    if not ternary and not all_finite(rows):
        raise ValueError("w must be finite, found NaN or Inf")
    if qset.scale is not None:
        alpha = np.full(C, qset.scale)
        if sign:
            return _apply_sign(rows, alpha, coder, dtype)
        return _apply(rows, alpha, coder, False, dtype)
    if sign and len(levels) == 2:  # binary: alpha * d/2 = mean|w|
        alpha = np.mean(np.abs(rows), axis=1) * (2.0 / coder.d)
        return _apply_sign(rows, alpha, coder, dtype)
    if ternary:  # top-t scan; alpha is the mean of the t* largest |w|
        u = np.abs(rows)
        u.sort(axis=1)
        if not np.all(np.isfinite(u[:, -1])):  # NaN and Inf sort last
            raise ValueError("w must be finite, found NaN or Inf")
        d = coder.d
        # alpha = S_t*/(d t*): the mean of the t* largest |w| (block sums + cumsum, ~1e-15 rel.)
        alpha, t = _single_run_alpha(u, 0.0, d, d * d)
        T = _x_threshold(alpha, 0.5 * d)
        # the comparison codes keep exactly the t* largest |w| (else: rounding at a tie)
        if T is not None and np.array_equal(_count_ge(u, T[:, None])[:, 0], np.where(t > 0, t, 0)):
            out = _apply_sign(rows, alpha, coder, dtype, q_buffer=u)
            if out is not None:
                return out
    else:
        alpha = best_scale(rows, levels)
    return _apply(rows, alpha, coder, True, dtype)


def project(w: object, qset: QuantSet, axis: int | None = None) -> Projection:
    r"""Exact Euclidean projection of ``w`` onto ``qset`` (jointly over scale and codes).

    .. math:: P_Q(w) \in \arg\min_{\alpha \ge 0,\; z \in L^n} \|w - \alpha z\|^2

    Args:
        w: real floating array (float16/32/64), non-empty and finite. Computed in float64.
        qset: a :class:`theory.sets.QuantSet`.
        axis: ``None`` for one scale for the whole tensor, or the axis whose slices get one scale
            each (``axis=0``: one scale per output channel of a (C_out, ...) weight).

    Returns:
        :class:`Projection` with ``q`` (same shape and dtype as w), ``scale``, ``codes``
        (indices into ``qset.levels``, dtype :func:`code_dtype`) and ``dist2``.

    Raises:
        TypeError: ``qset`` is not a QuantSet; ``w`` has a non-floating dtype.
        ValueError: ``w`` is empty or non-finite; ``axis`` out of range.

    Source: binary mean|w| and ternary top-t scan, papers.md §A1-A2; the general sweep and its
    pruning are derived in this module's docstring. Tie convention: see the module docstring.

    Example:
        >>> import numpy as np
        >>> from theory import project, Ternary
        >>> r = project(np.array([0.1, -2.0, 1.5, 0.2]), Ternary())
        >>> r.q.tolist(), round(r.scale, 6)
        ([0.0, -1.75, 1.75, 0.0], 1.75)
    """
    if not isinstance(qset, QuantSet):
        raise TypeError(f"qset must be a theory.sets.QuantSet, got {type(qset).__name__}")
    arr = as_float_array(w, "w", check_finite=False)  # checked in _project_rows
    ax = check_axis(axis, arr.ndim)
    shape, dtype = arr.shape, arr.dtype
    if ax is None:
        rows = np.asarray(arr, dtype=np.float64).reshape(1, -1)
    else:
        rows = np.moveaxis(arr, ax, 0).astype(np.float64).reshape(arr.shape[ax], -1)
    codes, q_rows, alpha, dist2 = _project_rows(rows, qset, dtype)
    if ax is None:
        return Projection(q_rows.reshape(shape), float(alpha[0]), codes.reshape(shape),
                          float(dist2[0]))
    moved = (shape[ax],) + tuple(s for i, s in enumerate(shape) if i != ax)
    q = np.moveaxis(q_rows.reshape(moved), 0, ax)
    codes_out = np.moveaxis(codes.reshape(moved), 0, ax)
    return Projection(q, alpha, codes_out, dist2)
