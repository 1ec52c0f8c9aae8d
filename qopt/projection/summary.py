r"""One pass over :math:`u = |w|`: a bucket summary (count and sum per bucket) of every row.

Row r is cut into ``nb`` buckets of equal width :math:`h_r = 2^{e_r - B}`, where
:math:`2^{e_r - 1} \le \max_i u_i < 2^{e_r}`: bucket k holds :math:`[k h_r, (k+1) h_r)`. The
bucket of an entry is :math:`\lfloor u\, 2^{B - e_r}\rfloor`; the product is a power-of-two
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


def bucket_params(n_min: int, top_level: float) -> int:
    """B (buckets per row ``nb = 2^B``) for the shortest row length and the top unit level.

    The optimum's neighbourhood is resolved when a bucket is a small fraction of the level step:
    with :math:`\\max u \\approx 2 l_{max} \\alpha` that asks for
    :math:`B \\approx \\log_2 l_{max} + 12`. Capped so that a row has at most n/4 buckets and
    2^18 (coarser buckets only widen the searched window; they never change the result).
    """
    lg = int(np.ceil(np.log2(max(top_level, 1.0))))
    cap = int(np.log2(max(n_min // 4, 16)))
    return int(np.clip(lg + 12, 4, min(cap, 18)))


@dataclass
class Summary:
    """Bucket summary of R rows (see the module docstring).

    Attributes:
        B, nb: ``nb = 2^B`` buckets per row.
        h: (R,) float64 bucket widths (powers of two); ``edges[r, k] = k * h[r]``.
        counts: (R, nb) int64; sums: (R, nb) float64.
        idx: (N,) int64 per-entry global bucket id ``r * nb + k`` (for finding entries again).
        top: (R,) float64 largest entry of each row.
    """

    B: int
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


def summarize(u: np.ndarray, starts: np.ndarray, B: int, idx: np.ndarray | None = None,
              tmp: np.ndarray | None = None) -> Summary:
    """Bucket summary of the rows ``u[starts[r]:starts[r+1]]`` (u >= 0 finite, float32/64, flat).

    ``idx`` (int64) and ``tmp`` (u's dtype): optional work buffers of length N.
    """
    R, N, nb = len(starts) - 1, u.shape[0], 1 << B
    top = np.maximum.reduceat(u, starts[:-1]).astype(np.float64)
    _, e = np.frexp(top)  # 2^(e-1) <= top < 2^e (e = 0 for an all-zero row)
    if idx is None:
        idx = np.empty(N, dtype=np.int64)
    if tmp is None:
        tmp = np.empty(N, dtype=u.dtype)
    for r in range(R):  # per row: its own width (a few calls per row; rows are long)
        a, b = starts[r], starts[r + 1]
        np.multiply(u[a:b], np.ldexp(u.dtype.type(1.0), B - int(e[r])), out=tmp[a:b])
        np.copyto(idx[a:b], tmp[a:b], casting="unsafe")  # truncation = floor (u >= 0)
        if r:
            idx[a:b] += r * nb
    counts = np.bincount(idx, minlength=R * nb).reshape(R, nb)
    w = u if u.dtype == np.float64 else u.astype(np.float64)  # float64 weights: fast bincount
    sums = np.bincount(idx, weights=w, minlength=R * nb).reshape(R, nb)
    return Summary(B, nb, np.ldexp(1.0, e - B), counts, sums, idx, top)
