r"""One pass over :math:`u = |w|`: a bucket summary (count and sum per bucket) of every row.

Row r is cut into :math:`2^{B_r}` buckets of equal width :math:`h_r = 2^{e_r - B_r}`, where
:math:`2^{e_r - 1} \le \max_i u_i < 2^{e_r}`: bucket k holds :math:`[k h_r, (k+1) h_r)`. The
bucket of an entry is :math:`\lfloor u\, 2^{B_r - e_r}\rfloor`; the product is a power-of-two
scaling, exact, so membership follows the exact edges :math:`k h_r`. Edges depend on the row's
own maximum only, so a row's summary does not depend on which other rows are summarised with it.

Per bucket: the count (exact) and the float64 sum of its values (``numpy.bincount``: sequential
float64 accumulation in memory order, error at most :math:`(N_k - 1)\,\varepsilon_{64}` times the
bucket's sum). From these, :mod:`qopt.projection.bounds` bounds the sweep's value over any range
of scales, and :mod:`qopt.projection.window` finds the entries of chosen buckets again through the
per-entry bucket index kept here.

Why equal widths: a set's decision thresholds :math:`\alpha m_j` are evenly spaced for uniform
grids, and what limits the search is the width of a bucket against the level step
:math:`\alpha` at *every* threshold, including the outermost (:func:`bucket_params`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Summary", "summarize", "bucket_params"]

#: up to this many rows the per-row loop; beyond, per-entry factor arrays (same values, no
#: Python work per row: per-channel groups have thousands of rows)
_LOOP_ROWS = 16


def bucket_params(n: np.ndarray, top_level: float) -> np.ndarray:
    """B_r (row r has ``2^B_r`` buckets) from the row lengths n and the top unit level.

    The optimum's neighbourhood is resolved when a bucket is a small fraction of the level step:
    with :math:`\\max u \\approx 2 l_{max} \\alpha` that asks for
    :math:`B \\approx \\log_2 l_{max} + 12`. Capped so that a row has at most n/4 buckets and
    2^18 (coarser buckets only widen the searched window; they never change the result).
    """
    lg = int(np.ceil(np.log2(max(top_level, 1.0))))
    cap = np.log2(np.maximum(np.asarray(n) // 4, 16)).astype(np.int64)
    return np.clip(lg + 12, 4, np.minimum(cap, 18))


@dataclass
class Summary:
    """Bucket summary of R rows (see the module docstring).

    Attributes:
        B: (R,) row r has ``2^B_r`` buckets (the others, up to nb, are empty).
        nb: buckets per row in the (R, nb) arrays (the largest 2^B_r).
        h: (R,) float64 bucket widths (powers of two); ``edges[r, k] = k * h[r]``.
        counts: (R, nb) int64; sums: (R, nb) float64.
        idx: (N,) int64 per-entry global bucket id ``r * nb + k`` (for finding entries again).
        top: (R,) float64 largest entry of each row.
    """

    B: np.ndarray
    nb: int
    h: np.ndarray
    counts: np.ndarray
    sums: np.ndarray
    idx: np.ndarray
    top: np.ndarray

    @property
    def edges(self) -> np.ndarray:
        """(R, nb + 1) float64 bucket edges ``k * h[r]`` (exact)."""
        return np.arange(self.nb + 1, dtype=np.float64)[None, :] * self.h[:, None]


def summarize(u: np.ndarray, starts: np.ndarray, B: np.ndarray,
              idx: np.ndarray | None = None, top: np.ndarray | None = None) -> Summary:
    """Bucket summary of the rows ``u[starts[r]:starts[r+1]]`` (u >= 0 finite, float32/64, flat).

    ``idx``: an optional int64 work buffer of length N (the per-entry bucket ids). ``top``: the
    rows' maxima when the caller has them already (saves a pass).
    """
    B = np.asarray(B, dtype=np.int64)
    R, N, nb = len(starts) - 1, u.shape[0], 1 << int(B.max())
    if top is None:
        top = np.maximum.reduceat(u, starts[:-1])
    top = np.asarray(top, dtype=np.float64)
    if not np.all(top < np.ldexp(1.0, 900)):
        raise ValueError("summarize needs rows scaled into the safe range (max < 2^900)")
    _, e = np.frexp(top)  # 2^(e-1) <= top < 2^e (e = 0 for an all-zero row)
    if idx is None:
        idx = np.empty(N, dtype=np.int64)
    # u 2^(B-e) is exact; the cast to int64 truncates = floor (u >= 0)
    if R <= _LOOP_ROWS:  # per row: its own width (a few calls per row; rows are long)
        for r in range(R):
            a, b = starts[r], starts[r + 1]
            np.multiply(u[a:b], np.ldexp(1.0, int(B[r]) - int(e[r])), out=idx[a:b],
                        casting="unsafe")
            if r:
                idx[a:b] += r * nb
    else:  # many rows (one per channel): the same products, one call per stage
        n = np.diff(starts)
        np.multiply(u, np.repeat(np.ldexp(1.0, B - e), n), out=idx, casting="unsafe")
        idx += np.repeat(np.arange(R, dtype=np.int64) * nb, n)
    counts = np.bincount(idx, minlength=R * nb).reshape(R, nb)
    w = u if u.dtype == np.float64 else u.astype(np.float64)  # float64 weights: fast bincount
    sums = np.bincount(idx, weights=w, minlength=R * nb).reshape(R, nb)
    return Summary(B, nb, np.ldexp(1.0, e - B), counts, sums, idx, top)
