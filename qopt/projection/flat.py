r"""Codes, refit and projected values of many rows at once, in one flat array (CPU, numpy).

The rows of a group of tensors (one per tensor, or one per slice along ``axis``) lie back to back
in a flat buffer ``w`` with offsets ``starts``; given each row's sweep scale :math:`\alpha_r`:

1. codes :math:`z_i` = index of the unit level nearest to :math:`y_i = \mathrm{fl}(w_i/\alpha_r)`
   with the tie rule of :mod:`qopt.projection.codes` (a value on a midpoint goes away from zero);
   a row with :math:`\alpha_r = 0` gets the zero code (y is taken as ±0);
2. the refit :math:`\alpha_r = \langle w, l_z\rangle / \|l_z\|^2` per row, with the products formed
   and summed in float64 (``numpy.add.reduceat``: pairwise sums per row, so a row's result does
   not depend on the other rows), and the zero point where :math:`\langle w, l_z\rangle \le 0`;
3. :math:`q_i = \alpha_r l_{z_i}` in the input dtype.

Codes for grids :math:`d\{-K..K\}` and :math:`d\{\pm\frac12, \dots\}` with a power-of-two d are
arithmetic (``rint`` with the ties pushed away from zero; ``floor``/``ceil`` by the sign of y),
exact since dividing by d is exact; other sets count the midpoints at or below y by comparisons
(or a binary search beyond 16 midpoints). All give :func:`theory.coding.nearest_codes` exactly
(tested on every midpoint and its neighbours).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from theory.sets import QuantSet, level_midpoints

__all__ = ["Coder", "coder", "flat_finish"]


class Coder(NamedTuple):
    """How to code one set: ``kind`` "int" (d{-K..K}), "half" (d{±1/2..}) or "generic"."""

    kind: str
    d: float
    levels: np.ndarray  # float64 unit levels
    mids: np.ndarray  # float64 midpoints
    zero: int  # code of the level nearest to 0+


@functools.lru_cache(maxsize=256)
def coder(qset: QuantSet) -> Coder:
    """The coder of ``qset`` (cached)."""
    lv = qset.levels
    mids = level_midpoints(lv) if len(lv) > 1 else np.zeros(0)
    zero = int(np.searchsorted(mids, 0.0, side="right"))
    k = len(lv)
    kind, d = "generic", 1.0
    if k >= 2 and np.array_equal(lv, -lv[::-1]):
        step = float(lv[-1] - lv[-2])
        if step > 0 and np.frexp(step)[0] == 0.5:
            j = np.arange(k, dtype=np.float64)
            if np.array_equal(lv, step * (j - (k - 1) / 2.0)):
                kind, d = ("int" if k % 2 else "half"), step
    return Coder(kind, d, lv, mids, zero)


def _codes(y: np.ndarray, c: Coder, out: np.ndarray) -> None:
    """Nearest-level codes of y (float32/64, finite or ±inf) into ``out`` (int8/16/32)."""
    k = len(c.levels)
    if c.kind == "int":
        K = (k - 1) // 2
        t = y / c.d if c.d != 1.0 else y
        r = np.rint(t)
        d = t - r
        r += (d == 0.5) & (t > 0)
        r -= (d == -0.5) & (t < 0)
        np.clip(r, -K, K, out=r)
        r += K
        out[...] = r
    elif c.kind == "half":
        h = k // 2
        t = y / c.d if c.d != 1.0 else y
        # the sign of y decides floor/ceil: y/d may underflow to -0.0 for a tiny y < 0
        r = np.where(y >= 0, np.floor(t) + h, np.ceil(t) + (h - 1))
        np.clip(r, 0, k - 1, out=r)
        out[...] = r
    elif len(c.mids) <= 16:
        out[...] = 0
        for m in c.mids:  # the few midpoints
            out += (y >= m) if m > 0 else (y > m) if m < 0 else (y >= 0)
    else:
        right = np.searchsorted(c.mids, y, side="right")
        left = np.searchsorted(c.mids, y, side="left")
        out[...] = np.where(y >= 0, right, left)


def flat_finish(w: np.ndarray, starts: np.ndarray, alpha: np.ndarray, c: Coder,
                codes: np.ndarray, refit: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Codes (written into ``codes``), refitted scales (float64, per row) and q (w's dtype).

    ``alpha``: (R,) sweep scales (float64; 0 for the zero point). With ``refit=False`` (a fixed
    scale) the scales are returned unchanged.
    """
    n = np.diff(starts)
    inv = np.where(alpha > 0, alpha, np.inf).astype(w.dtype)  # w/inf = ±0: the zero code
    y = w / np.repeat(inv, n)
    _codes(y, c, codes)
    z = c.levels[codes] if c.kind == "generic" else (codes - (len(c.levels) - 1) / 2.0) * c.d
    if refit:
        s1 = np.add.reduceat(w * z, starts[:-1], dtype=np.float64)
        s2 = np.add.reduceat(z * z, starts[:-1], dtype=np.float64)
        ok = (s1 > 0) & (s2 > 0)
        alpha = np.where(ok, s1 / np.where(ok, s2, 1.0), 0.0)
        if not ok.all():
            bad = np.repeat(~ok, n)
            codes[bad] = c.zero
            z[bad] = c.levels[c.zero]
    a = alpha.astype(w.dtype)
    q = (np.repeat(a, n) * z).astype(w.dtype)
    return alpha, q
