r"""The exact sweep inside a window of scales :math:`[lo, hi]`, and the canonical optimal scale.

Given a row's bucket summary and a window that is known to hold the optimal scale
(:mod:`qopt.projection.bounds`), only the events with keys near :math:`[lo, hi]` are needed:

* for midpoint j, the buckets from the one holding :math:`lo\,m_j` to the one holding
  :math:`hi\,m_j`, widened by one bucket on each side, are *extracted* (their entries found
  through the per-entry bucket index); the events of higher buckets have keys above hi and form
  the *base* state (exact from the bucket suffix sums), those of lower buckets have keys below lo;
* the extracted events are sorted by decreasing key (ties: innermost midpoint first) and
  accumulated from the base: the state after every run of equal keys :math:`\kappa \in [lo, hi]`,
  and the state at :math:`\alpha = hi`, are exactly the sweep states for
  :math:`\alpha \in [lo, hi]`; the first of largest value is the optimum (tie rule). Values
  within 1e-9 (relative) of the best are compared again on their canonical sums (below), so
  that near-ties (e.g. two scales giving the same point) are decided the same way whatever the
  window (at most the 8 best per row); canonical values within 4 ulps count as tied and go
  to the largest scale.

**Canonical scale.** The chosen state is "every event of key :math:`\ge \kappa^*`". Its
:math:`s_1, s_2` are then recomputed from :math:`\kappa^*` alone: for each midpoint j, the buckets
from two above the one holding :math:`\kappa^* m_j` (suffix sums) plus the entries of
the three buckets around it with :math:`\mathrm{fl}(u/m_j) \ge \kappa^*`, summed in increasing
order (a bucket is wider than the rounding of :math:`\kappa^* m_j` by far, so the buckets two
above hold only keys above :math:`\kappa^*` and those two below only keys below). The result
:math:`\alpha = s_1/s_2` depends on the data and :math:`\kappa^*` only, not on the window: the
warm start (which sets the window) changes no bit of the result.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from qopt.projection.bounds import edge_above, value
from qopt.projection.summary import Summary
from qopt.projection.tables import SymmetricEvents

__all__ = ["window_scan"]

_EPS = np.finfo(np.float64).eps
#: scan values this close to the best are decided on canonical sums; canonical values this
#: close to the best count as ties (decided for the largest scale)
_NEAR, _TIE, _KEEP = 1e-9, 4 * _EPS, 8


#: rows up to which the per-row sorts loop; beyond, one lexsort (the same permutation)
_LOOP_ROWS = 16


def _by_row(x: np.ndarray, cut: np.ndarray) -> np.ndarray:
    """The permutation that sorts ``x`` stably within each row segment ``cut[r]:cut[r+1]``
    (segments contiguous and in order): one stable argsort per row, or for many rows one
    ``lexsort`` by (row, x), which is the same permutation (stable on equal x in both)."""
    R = len(cut) - 1
    if R <= _LOOP_ROWS:
        return np.concatenate([a + np.argsort(x[a:b], kind="stable")
                               for a, b in zip(cut[:-1], cut[1:])]) if R else \
            np.zeros(0, dtype=np.int64)
    row = np.repeat(np.arange(R), np.diff(cut))
    return np.lexsort((x, row))


def _bucket_of(x: np.ndarray, sm: Summary) -> np.ndarray:
    """Per row (axis 0) the bucket k with k h <= x < (k + 1) h (nb for x beyond)."""
    return edge_above(x, sm) - 1


def _ranges(lo_k: np.ndarray, hi_k: np.ndarray, nb: int) -> np.ndarray:
    """(R, nb) bool: bucket k of row r lies in some [lo_k[r, j], hi_k[r, j]]."""
    R, E = lo_k.shape
    diff = np.zeros((R, nb + 1), dtype=np.int32)
    rr = np.repeat(np.arange(R), E)
    np.add.at(diff, (rr, lo_k.ravel()), 1)
    np.add.at(diff, (rr, (hi_k + 1).ravel()), -1)
    return np.cumsum(diff[:, :nb], axis=1) > 0


def _expand(k: np.ndarray, row: np.ndarray, klo: np.ndarray, khi: np.ndarray,
            nb: int) -> tuple[np.ndarray, np.ndarray]:
    """Events (entry index, midpoint j) with klo[row, j] <= k <= khi[row, j]: both bounds grow
    with j, so each entry's midpoints form a range [j0, j1] (found by binary search)."""
    R, E = klo.shape
    off = (np.arange(R) * (nb + 2))[:, None]  # rows made disjoint: one global sorted array
    gk = k + off[row, 0]
    j0 = np.searchsorted((khi + off).ravel(), gk, side="left") - row * E
    j1 = np.searchsorted((klo + off).ravel(), gk, side="right") - row * E
    cnt = np.maximum(j1 - j0, 0)
    ent = np.repeat(np.arange(len(k)), cnt)
    first = np.cumsum(cnt) - cnt
    j = j0[ent] + (np.arange(len(ent)) - first[ent])
    return ent, j


def window_scan(u: np.ndarray, starts: np.ndarray, sm: Summary, ev: SymmetricEvents,
                n: np.ndarray, lo: np.ndarray, hi: np.ndarray, CN: np.ndarray,
                CS: np.ndarray, mask: np.ndarray | None = None) -> dict:
    """Exact optimum of each row given a window [lo_r, hi_r] (lo may be 0, hi may be inf).

    Returns ``alpha`` (R,) float64 canonical scales (module docstring), ``kappa`` (R,) the
    threshold of the chosen state, ``extracted`` (entries found again) and ``events``.
    ``mask``: an optional bool work buffer of len(u).
    """
    R, nb = sm.counts.shape
    m, g, dd = (np.array(v, dtype=np.float64) for v in (ev.mids, ev.gaps, ev.dd))
    with np.errstate(over="ignore", invalid="ignore"):
        khi = _bucket_of(hi[:, None] * m * (1 + 4 * _EPS), sm)
        klo = _bucket_of(lo[:, None] * m * (1 - 4 * _EPS), sm)
    khi = np.minimum(khi + 1, nb - 1)
    klo = np.minimum(np.maximum(klo - 1, 0), khi + 1)
    # find the entries of the marked buckets again, sorted by (row, bucket, value)
    if mask is None:
        mask = np.empty(sm.idx.shape[0], dtype=np.bool_)
    np.take(_ranges(klo, khi, nb).ravel(), sm.idx, out=mask)
    pos = np.flatnonzero(mask)  # ascending: grouped by row (rows are contiguous)
    val = u[pos].astype(np.float64)
    cut = np.searchsorted(pos, starts)
    order = _by_row(val, cut)  # by value within each row
    val, pos = val[order], pos[order]
    gid = sm.idx[pos]  # buckets follow values: (row, bucket, value) order
    row = gid // nb
    k = gid - row * nb
    ent, ej = _expand(k, row, klo, khi, nb)
    erow, ev_ = row[ent], val[ent]
    key = ev_ / m[ej]
    # decreasing key within each row; a stable sort keeps equal keys innermost midpoint first
    # (equal keys u1/m_j1 = u2/m_j2 with u1 < u2 have j1 < j2, and entries come by value)
    cut = np.searchsorted(erow, np.arange(R + 1))
    order = _by_row(-key, cut)
    erow, ej, key, ev_ = erow[order], ej[order], key[order], ev_[order]
    _, t = np.frexp(np.maximum(sm.top, np.finfo(np.float64).tiny))
    unit = np.ldexp(1.0, -t)
    # base state: every event of the buckets above the ranges (s1 in units of 2^t)
    kb = khi + 1
    nz = np.asarray(n, dtype=np.float64) * ev.z0 ** 2
    s1b = (ev.z0 * CS[:, 0] + (np.take_along_axis(CS, kb, 1) * g).sum(1)) * unit
    s2b = nz + (np.take_along_axis(CN, kb, 1) * dd).sum(1)
    # per-row prefix states in a padded (R, L + 1) layout (exact per-row cumulative sums)
    cnt = np.bincount(erow, minlength=R)
    L = int(cnt.max()) if R else 0
    col = np.arange(len(erow)) - (np.cumsum(cnt) - cnt)[erow]
    P1, P2, K = np.zeros((R, L + 1)), np.zeros((R, L + 1)), np.full((R, L + 2), -np.inf)
    P1[erow, col + 1] = ev_ * g[ej] * unit[erow]
    P2[erow, col + 1] = dd[ej]
    K[erow, col + 1] = key
    S1 = s1b[:, None] + np.cumsum(P1, axis=1)
    S2 = s2b[:, None] + np.cumsum(P2, axis=1)
    p = np.arange(L + 1)[None, :]
    kp = K[:, : L + 1]
    p0 = (K[:, 1:] >= hi[:, None]).sum(1)  # prefix "every key >= hi" (padding is -inf)
    run_end = (K[:, 1: L + 2] != kp) & (p <= cnt[:, None])
    cand = (p == p0[:, None]) | ((p > p0[:, None]) & run_end & (kp >= lo[:, None]))
    V = np.where(cand, value(S1, S2), -1.0)
    # Candidates within rounding of the best (ties, e.g. two scales giving one point) are
    # compared again on their canonical sums, which do not depend on the window; the first of
    # those at the maximum (the largest scale) wins. Then alpha = s1/s2 of the winner.
    near = cand & (V >= V.max(axis=1, keepdims=True) * (1.0 - _NEAR))
    if near.sum(axis=1).max() > _KEEP:  # at most the _KEEP best of each row (flat objectives)
        kth = -np.partition(-np.where(near, V, -1.0), _KEEP - 1, axis=1)[:, _KEEP - 1]
        near &= V >= kth[:, None]
    nr, npos = np.nonzero(near)
    nk = np.where(npos == p0[nr], hi[nr], kp[nr, npos])
    c1, c2 = _canonical(val, gid, sm, ev, n, nr, nk, CN, CS)
    cv = value(c1 * unit[nr], c2)
    top = np.full(R, -1.0)
    np.maximum.at(top, nr, cv)
    win = cv >= top[nr] * (1.0 - _TIE)
    first = np.full(R, len(nr))
    np.minimum.at(first, nr[win], np.flatnonzero(win))  # nonzero() lists rows, then scales
    kappa = nk[first]
    b1, b2 = c1[first], c2[first]
    ok = (b1 > 0) & (b2 > 0)
    alpha = np.where(ok, b1 / np.where(ok, b2, 1.0), 0.0)
    return {"alpha": alpha, "kappa": kappa, "extracted": len(pos), "events": len(key),
            "klo": klo, "khi": khi, "pos": pos, "gid": gid, "val": val}


def _canonical(val: np.ndarray, gid: np.ndarray, sm: Summary, ev: SymmetricEvents,
               n: np.ndarray, row: np.ndarray, kappa: np.ndarray, CN: np.ndarray,
               CS: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(s1, s2) of the states "every key >= kappa[i]" of rows ``row[i]``, from kappa alone
    (module docstring). ``val``/``gid``: the extracted entries sorted by (bucket, value)."""
    nb = sm.counts.shape[1]
    M = len(row)
    m, g, dd = (np.array(v, dtype=np.float64) for v in (ev.mids, ev.gaps, ev.dd))
    E = len(m)
    with np.errstate(over="ignore", invalid="ignore"):
        x = kappa[:, None] * m
    fin = np.isfinite(x)
    kk = np.where(fin, _bucket_of(np.where(fin, x, 0.0), _rows(sm, row)), nb)
    full = np.minimum(kk + 2, nb)
    s1 = ev.z0 * CS[row, 0] + (CS[row[:, None], full] * g).sum(1)  # gathers, no row copies
    nz = np.asarray(n, dtype=np.float64)[row] * ev.z0 ** 2
    s2 = nz + (CN[row[:, None], full] * dd).sum(1)
    # buckets kk-1 .. kk+1 of (i, j): one slice of the sorted entries, increasing in value
    base = (row * nb)[:, None]
    a = np.searchsorted(gid, base + np.maximum(kk - 1, 0), side="left")
    b = np.searchsorted(gid, base + np.minimum(kk + 2, nb), side="left")
    a = np.where(fin, a, b)
    cnt = (b - a).ravel()
    rj = np.repeat(np.arange(M * E), cnt)
    at = np.repeat(a.ravel(), cnt) + (np.arange(len(rj)) - np.repeat(np.cumsum(cnt) - cnt, cnt))
    with np.errstate(over="ignore", invalid="ignore"):
        take = (val[at] / m[rj % E]) >= kappa[rj // E]
    v = np.where(take, val[at], 0.0)  # zeros for the entries below kappa: sums unchanged
    part = np.zeros(M * E)
    cp = np.zeros(M * E)
    nonempty = cnt > 0
    if len(v):
        st = (np.cumsum(cnt) - cnt)[nonempty]
        part[nonempty] = np.add.reduceat(v, st)
        cp[nonempty] = np.add.reduceat(take.astype(np.float64), st)
    s1 = s1 + (part.reshape(M, E) * g).sum(1)
    s2 = s2 + (cp.reshape(M, E) * dd).sum(1)
    return s1, s2


def _rows(sm: Summary, row: np.ndarray) -> SimpleNamespace:
    """The bucket widths of some rows (what the bucket lookups read)."""
    return SimpleNamespace(h=sm.h[row], nb=sm.nb)
