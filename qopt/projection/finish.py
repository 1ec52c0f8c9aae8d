r"""Codes, refit and values of the certified rows from their bucket summary (CPU, numpy).

After the certified search (:mod:`qopt.projection.pruned`) a row has its sweep scale
:math:`\alpha` and a bucket summary of :math:`u = |w|`. The codes are the nearest levels of
:math:`y = \mathrm{fl}(w/\alpha)` (compute dtype, tie rule of :mod:`qopt.projection.codes`); for a
symmetric set with positive midpoints :math:`m_1 < \dots < m_E` and magnitude
:math:`c(u) = \#\{j : \mathrm{fl}(u/\alpha) \ge m_j\}`:

.. math:: z = E + \zeta + c(|w|) \text{ for } w \ge 0, \qquad z = E - c(|w|) \text{ for } w < 0,

(:math:`\zeta = 1` when 0 is a midpoint, i.e. no zero level; -0.0 counts as :math:`w \ge 0`), the
mirror image of counting midpoints at or below y, ties going away from zero on both sides.

Since :math:`\mathrm{fl}(u/\alpha)` is monotone in u, a bucket :math:`[kh, (k+1)h)` whose edges
give the same magnitude gives it to every entry: one table lookup per entry. The few buckets with
a decision threshold inside are *boundary* buckets; they lie in the searched window (the optimal
scale is inside it), so their entries are at hand and are coded one by one. The refit
:math:`\alpha = \langle |w|, |l_z|\rangle / \|l_z\|^2` then needs no pass over the data: the
bucket sums and counts times the table's levels, plus the boundary entries (float64, fixed order,
so the result depends on the data and :math:`\alpha` only). A boundary bucket missing from the
window (never expected) is found and coded from the data, so the result stays exact.
"""

from __future__ import annotations

import numpy as np

from qopt.projection.flat import Coder

__all__ = ["bucket_codes"]


def bucket_codes(alpha: np.ndarray, sm, window: dict, c: Coder, cd: np.dtype,
                 u: np.ndarray, out: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray, dict]:
    """Magnitudes c(u) of every entry (int8/16/32 flat), refitted scales (float64, R) and the
    pieces the caller needs to write codes and values (``E``, ``zeta``, ``levels``).

    ``alpha``: (R,) sweep scales > 0 (rows with alpha = 0 are the caller's), ``sm`` the rows'
    summary, ``window`` the extracted entries (``pos``, ``gid``, ``val``) of the search, ``cd``
    the compute dtype (where y = w/alpha is rounded), ``u`` the flat |w| (float64), ``out`` an
    optional buffer for the magnitudes (int8 below 127 midpoints, else int32).
    """
    R, nb = sm.counts.shape
    lv = c.levels.astype(cd)
    mids = c.mids.astype(cd)
    pos_m = mids[mids > 0]
    E = len(pos_m)
    zeta = int(np.any(mids == 0))
    top = lv[E + zeta:]  # |level| of magnitude 0, 1, ..., E (the positive side)
    a = np.where(alpha > 0, alpha, 1.0).astype(cd)[:, None]
    edges = (np.arange(nb + 1, dtype=np.float64)[None, :] * sm.h[:, None]).astype(cd)
    mag_e = np.searchsorted(pos_m, edges / a, side="right")  # c() at every edge, (R, nb + 1)
    table = mag_e[:, :-1]
    boundary = (mag_e[:, 1:] != table) & (sm.counts > 0)
    # boundary entries: from the window if every boundary bucket is in it, else from the data
    gid, val, pos = window["gid"], window["val"], window["pos"]
    in_win = np.zeros(R * nb, dtype=bool)
    in_win[gid] = True
    missing = boundary.ravel() & ~in_win
    sel = np.take(boundary.ravel(), gid)
    bpos, bgid, bval = pos[sel], gid[sel], val[sel]
    if missing.any():  # never expected: the optimum's thresholds lie in the window
        extra = np.flatnonzero(np.take(missing, sm.idx))
        bpos = np.concatenate([bpos, extra])
        bgid = np.concatenate([bgid, sm.idx[extra]])
        bval = np.concatenate([bval, u[extra]])
        order = np.lexsort((bval, bgid))
        bpos, bgid, bval = bpos[order], bgid[order], bval[order]
    brow = bgid // nb
    bmag = np.searchsorted(pos_m, bval.astype(cd) / a[brow, 0], side="right")
    # refit from the buckets (constant magnitude) and the boundary entries
    t64 = top.astype(np.float64)
    ok = ~boundary
    s1 = np.where(ok, t64[table] * sm.sums, 0.0).sum(1)
    s2 = np.where(ok, t64[table] ** 2 * sm.counts, 0.0).sum(1)
    if len(bval):
        starts = np.flatnonzero(np.concatenate([[True], brow[1:] != brow[:-1]]))
        rows = brow[starts]
        s1[rows] += np.add.reduceat(bval * t64[bmag], starts)
        s2[rows] += np.add.reduceat(t64[bmag] ** 2, starts)
    good = (s1 > 0) & (s2 > 0) & (alpha > 0)
    new = np.where(good, s1 / np.where(good, s2, 1.0), 0.0)
    mdt = np.int8 if E < 127 else np.int32
    mag = out if out is not None and out.dtype == mdt else np.empty(sm.idx.shape[0], mdt)
    np.take(table.astype(mdt).ravel(), sm.idx, out=mag)
    mag[bpos] = bmag
    return mag, new, {"E": E, "zeta": zeta, "levels": lv}
