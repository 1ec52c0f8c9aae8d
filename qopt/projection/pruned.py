r"""The certified search for the optimal free scale (CPU, symmetric sets): warm start, bound, scan.

Per row of :math:`u = |w|` (derivations in :mod:`qopt.projection.bounds` and
:mod:`qopt.projection.window`):

1. one pass builds the bucket summary (:mod:`qopt.projection.summary`);
2. **warm start**: a grid of scales centred on the previous optimum (the *hint*), fine (steps of
   about a bucket width, :math:`2^{1-B}` in :math:`\log_2`) within :data:`BAND` of it in
   :math:`\log_2` and geometrically coarser beyond, partitions :math:`(0, \infty)`; every interval
   gets the upper bound
   :math:`\bar V` and every interval's end states an attainable value, whose maximum is
   :math:`\underline V`;
3. **certificate**: intervals with :math:`\bar V < \underline V(1-\tau)` cannot hold the optimum;
   the certificate *holds* when every other interval lies in the fine band around the hint.
   Otherwise the grid is centred again on the scale of the best attainable state (at most
   :data:`ROUNDS` times; without a hint the first grid spans the whole range of scales);
4. the window :math:`[lo, hi]` (the hull of the intervals not excluded) is searched exactly
   (:func:`qopt.projection.window.window_scan`), which returns the canonical optimal scale.

The result never depends on the hint (only the work does): when the certificate fails the window
is simply wider, in the worst case all of :math:`(0, \infty)` (every event sorted: the full
sweep). The host reads the data-dependent window sizes, so this path runs on CPU tensors only.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from qopt.projection.bounds import interval_bounds, suffix_sums, tolerance
from qopt.projection.summary import bucket_params, summarize
from qopt.projection.tables import SymmetricEvents
from qopt.projection.window import window_scan
from qopt.projection.workspace import Workspace

__all__ = ["certified_scales", "SearchRecord", "BAND", "ROUNDS", "MIN_ROW", "min_row"]

#: half-width (log2 units) of the fine band around the centre; zoom rounds; shortest row for a
#: set with several positive midpoints (one midpoint: MIN_ROW_SINGLE)
BAND, ROUNDS, MIN_ROW, MIN_ROW_SINGLE = 0.04, 3, 4096, 65536


def min_row(E: int) -> int:
    """Shortest row that takes the certified search, for E positive midpoints. Below it the
    sort-based paths cost less than the search's fixed overhead: the top-t scan for one midpoint
    (a sort and a scan) up to 65536 entries; the full sweep (E n events) up to 4096."""
    return MIN_ROW_SINGLE if E == 1 else MIN_ROW
_GROWTH, _SPAN = 0.3, 64.0  # coarse steps grow by 1 + this/sqrt(E), up to this many binades


@dataclass
class SearchRecord:
    """Everything the search decided, per row (for statistics and certificates)."""

    held: np.ndarray  # (R,) bool: certificate held around the hint in the first round
    rounds: np.ndarray  # (R,) int: grids evaluated
    lo: np.ndarray
    hi: np.ndarray
    kappa: np.ndarray
    extracted: int
    events: int
    B: np.ndarray
    nb: int
    grids: list = field(default_factory=list)  # per round: a, b, vub, keep, vlb, best state
    summary: object = None  # the bucket summary (qopt.projection.summary.Summary)
    window: dict = field(default_factory=dict)  # extracted entries: pos, gid, val (sorted)


@functools.lru_cache(maxsize=64)
def _graded(B: int, E: int) -> tuple[np.ndarray, float]:
    """log2 offsets of the warm-start grid: 0, steps of about 2^(1-B) (at most 64 of them) up to
    BAND, then steps growing geometrically up to _SPAN binades; and the fine band's half-width.

    The growth is 1 + 0.3/sqrt(E) for E midpoints: with many levels the value is flat around
    the optimum and the bound of a wide interval loose, so intervals must stay narrow (relative
    to their distance from the centre) much further out."""
    d = 2.0 ** (1 - B)
    F = int(np.clip(np.ceil(BAND / d), 4, 64))
    d = BAND / F
    growth = 1.0 + _GROWTH / np.sqrt(E)
    pos = [k * d for k in range(1, F + 1)]
    while pos[-1] < _SPAN:
        pos.append(pos[-1] + (pos[-1] - pos[-2]) * growth)
    pos = np.array(pos)
    offs = np.concatenate([-pos[::-1], [0.0], pos])
    offs.flags.writeable = False  # cached: shared by every call
    return offs, F * d


def _cold(top: np.ndarray, ev: SymmetricEvents, P: int) -> np.ndarray:
    """P scales, evenly spaced in log2, over every scale where a key can lie (R, P)."""
    hi = np.log2(np.maximum(top, np.finfo(np.float64).tiny)) - np.log2(ev.mids[0]) + 1.0
    span = _SPAN / 2 + np.log2(ev.mids[-1] / ev.mids[0]) + 2.0
    return np.exp2(hi[:, None] - np.linspace(span, 0.0, P)[None, :])


def certified_scales(u: np.ndarray, starts: np.ndarray, ev: SymmetricEvents,
                     hint: np.ndarray | None = None, ws: Workspace | None = None,
                     top: np.ndarray | None = None) -> tuple[np.ndarray, SearchRecord]:
    """Canonical optimal scale (float64) of each row ``u[starts[r]:starts[r+1]]`` (module doc).

    Args:
        u: flat |w| (float32/float64, finite), rows contiguous. starts: (R + 1,) offsets.
        ev: the set's events (:func:`qopt.projection.tables.symmetric_events`).
        hint: (R,) previous optimal scales (any value: NaN, 0 or inf mean "none").
        ws: work buffers (:class:`qopt.projection.workspace.Workspace`).
        top: (R,) the rows' maxima of ``u``, when the caller has them (saves a pass).
    """
    n = np.diff(starts)
    R = len(n)
    B = bucket_params(n, ev.z0 + sum(ev.gaps))
    ws = ws or Workspace()
    N = u.shape[0]
    sm = summarize(u, starts, B, ws.get("idx", N, np.int64), top=top)
    nb = sm.nb
    CN, CS = suffix_sums(sm)
    tau = tolerance(n, nb, len(ev.mids))
    zero = sm.top <= 0
    offs, fine = _graded(int(B.min()), len(ev.mids))
    c = np.full(R, np.nan) if hint is None else np.asarray(hint, dtype=np.float64).copy()
    c = np.where(np.isfinite(c) & (c > 0) & ~zero, c, np.nan)
    held = np.zeros(R, dtype=bool)
    done = zero.copy()
    rounds = np.zeros(R, dtype=np.int64)
    lo, hi = np.zeros(R), np.full(R, np.inf)
    grids: list = []
    for r in range(ROUNDS + 1):
        todo = ~done
        if not todo.any():
            break
        warm = np.isfinite(c)
        pts = c[:, None] * np.exp2(offs[None, :])
        if not warm.all():
            pts[~warm] = _cold(sm.top[~warm], ev, len(offs))
        a = np.concatenate([np.zeros((R, 1)), pts], axis=1)
        b = np.concatenate([pts, np.full((R, 1), np.inf)], axis=1)
        bd = interval_bounds(sm, ev, n, a, b, CN, CS)
        att = np.maximum(bd["vD"], bd["vH"])
        vlb = att.max(axis=1)
        keep = bd["vub"] >= (vlb * (1.0 - tau))[:, None]
        first = np.argmax(keep, axis=1)
        last = keep.shape[1] - 1 - np.argmax(keep[:, ::-1], axis=1)
        ar = np.arange(R)
        # every round's hull holds the optimum: keep their intersection
        lo_new = np.where(todo, np.maximum(lo, a[ar, first]), lo)
        hi_new = np.where(todo, np.minimum(hi, b[ar, last]), hi)
        stuck = (lo_new == lo) & (hi_new == hi) & (r > 0)  # a round that gained nothing
        lo, hi = lo_new, hi_new
        rounds += todo
        inside = warm & (lo >= c * np.exp2(-fine)) & (hi <= c * np.exp2(fine))
        if r == 0:
            held = inside & todo
        done |= inside | stuck
        # re-centre on the scale of the best attainable state
        j = np.argmax(att, axis=1)
        useD = bd["vD"][ar, j] >= bd["vH"][ar, j]
        best_a = np.where(useD, bd["aD"][ar, j], bd["aH"][ar, j])
        grids.append({"rows": todo.copy(), "a": a, "b": b, "vub": bd["vub"], "keep": keep,
                      "vlb": vlb, "best": j, "best_is_D": useD, "tau": tau})
        c = np.where(done, c, np.where(best_a > 0, best_a, np.nan))
    lo = np.where(zero, 0.0, lo)
    hi = np.where(zero, np.inf, hi)
    win = window_scan(u, starts, sm, ev, n, lo, hi, CN, CS, ws.get("mask", N, np.bool_))
    alpha = np.where(zero, 0.0, win["alpha"])
    rec = SearchRecord(held, rounds, lo, hi, win["kappa"], win["extracted"], win["events"], B,
                       nb, grids, sm, {k: win[k] for k in ("pos", "gid", "val")})
    return alpha, rec
