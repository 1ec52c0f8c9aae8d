r"""Nearest-level codes: the separable step of the projection onto a quantization set.

For a fixed scale :math:`\alpha > 0` the projection :math:`\arg\min_{z \in L^n}\|w - \alpha z\|^2`
separates per entry: :math:`z_i` is the unit level nearest to :math:`y_i = \mathrm{fl}(w_i/\alpha)`.
With sorted levels :math:`l_0 < \dots < l_{k-1}` and midpoints :math:`m_j = (l_j + l_{j+1})/2`
the code is :math:`\#\{m_j \le y\}` for :math:`y \ge 0` and :math:`\#\{m_j < y\}` for
:math:`y < 0`, which is the tie convention of :mod:`theory.projection`: a value exactly on a
midpoint goes to the level farther from zero, and 0 on the midpoint 0 goes to the positive level.

:func:`nearest_codes` is the reference (two ``searchsorted`` calls). The private fast paths below
give the same codes (tested equal in ``tests/theory/test_projection.py``):

* ``_Coder`` — arithmetic codes for symmetric power-of-two grids ``d*{-K..K}`` (``rint``, ties
  pushed away from zero) and ``d*{±1/2, ±3/2, ...}`` (floor/ceil by the sign of y); the division
  by a power of two d is exact, so no rounding enters;
* ``_apply`` — codes, optional scale refit :math:`\alpha = \langle w,z\rangle_+/\|z\|^2`, the
  point q and :math:`\|w - q\|^2` in cache-sized blocks;
* ``_apply_sign`` — the same for ``d*{-1,0,1}`` and ``d*{±1/2}`` by comparisons only, with the
  exact threshold ``_x_threshold`` (the smallest x with :math:`\mathrm{fl}(x/\alpha) \ge c`)
  replacing the division without changing the tie convention.

Source: derived here (the separability is immediate; the fast paths are checked against
:func:`nearest_codes` and brute force in the tests).
"""

from __future__ import annotations

import numpy as np

__all__ = ["code_dtype", "nearest_codes"]


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
    x >= 0 and :math:`\\#\\{m_j < x\\}` for x < 0 (the tie convention of :mod:`theory.projection`).
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
