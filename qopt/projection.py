r"""Exact Euclidean projection onto a quantization set, in PyTorch (CPU and CUDA).

.. math::

    P_Q(w) \in \arg\min_{\alpha \ge 0,\; z \in L^n} \|w - \alpha z\|_2^2,
    \qquad Q = \{\alpha z : z \in L^n\}

jointly over the scale :math:`\alpha` (free-scale sets, a cone) and the codes :math:`z`, or over the
codes alone (fixed scale). This is a second, independent implementation of
:func:`theory.projection.project` (it imports only the set classes, the shared vocabulary) and must
return the *same minimiser*, tie rule included; ``tests/qopt/test_projection.py`` compares the two.

Algorithm (derivation: the docstring of :mod:`theory.projection`; papers.md §A1-A3):

* fixed scale: :math:`z_i` = nearest unit level of :math:`w_i/\alpha`;
* ``Binary``: :math:`\alpha = \|w\|_1/n`, :math:`z = \mathrm{sign}(w)` with sign(0) = +1 (§A1);
* unit levels :math:`\{-1, 0, 1\}` (``Ternary``, ``Uniform(2)``): sort :math:`|w|` decreasingly,
  :math:`S_t` = sum of the t largest, :math:`\alpha = S_{t^*}/t^*`,
  :math:`t^* = \arg\max_t S_t^2/t` (§A2);
* any other free-scale set: the breakpoint sweep. Each entry :math:`w_i` changes code when
  :math:`\alpha` crosses :math:`|w_i|/|m_j|` for a midpoint :math:`m_j` of its sign; all
  :math:`E\cdot n` events are sorted by decreasing :math:`\alpha` (one stable sort), and the running
  :math:`s_1 = \langle w, z\rangle`, :math:`s_2 = \|z\|^2` are cumulative sums; the best code vector
  maximises :math:`(s_1)_+^2/s_2`;
* then the codes are recomputed as nearest levels of :math:`w/\alpha` and the scale refitted,
  :math:`\alpha = \langle w, z\rangle_+/\|z\|^2` (both steps can only lower the objective).

**Tie rule** (as in theory): a value exactly on a midpoint goes to the level farther from zero, 0 on
the midpoint 0 goes to the positive level (``Binary`` maps 0 to +α); among equal sweep values the
first met from :math:`\alpha = +\infty` downward wins (``torch.argmax`` returns the first maximum,
and the event order is the same stable order as theory's).

Everything is vectorised over elements and slices (one sort per call); the only Python loops are
over the few midpoints when building the sweep tables. No host-device synchronisation happens in
:func:`project_rows` / :func:`quantize_` (the hot path of :class:`qopt.QuantOptimizer`);
:func:`project` validates its input (finiteness costs one sync) unless ``check=False``.

Precision: float64 inputs are computed in float64; float32, bfloat16 and float16 inputs in float32.
"""

from __future__ import annotations

import functools
import numbers
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from theory.sets import Binary, QuantSet

__all__ = ["TorchProjection", "project", "project_rows", "nearest_codes", "quantize_",
           "compute_dtype", "to_rows", "from_rows"]


class TorchProjection(NamedTuple):
    r"""Result of :func:`project` (the fields of :class:`theory.projection.Projection`, as tensors).

    Attributes:
        q: projected tensor, same shape/dtype/device as ``w``.
        scale: the scale α: 0-d tensor (``axis=None``) or one entry per slice, shape (C,); float64
            for float64 inputs, float32 otherwise. A fixed-scale set reports its scale.
        codes: int64 indices into ``qset.levels`` (sorted unit levels), same shape as ``w``, so that
            ``q == scale * levels[codes]`` (broadcast along ``axis``).
        dist2: :math:`\|w - q\|^2` in the compute dtype (0-d, or (C,) per slice).
    """

    q: Tensor
    scale: Tensor
    codes: Tensor
    dist2: Tensor


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float64 stays float64; every other floating dtype is computed in float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


@functools.lru_cache(maxsize=256)
def _tables(qset: QuantSet, dtype: torch.dtype, device: torch.device) -> dict[str, Tensor]:
    """Levels, midpoints and sweep tables of ``qset`` on ``device`` (cached; never mutated).

    Sweep tables (derived from the unit levels here, in Python float64 exactly as theory's numpy):
    for the j-th positive midpoint (ascending) ``pos_div[j] = m_j``, ``pos_dz[j] = hi - lo`` and
    ``pos_dz2[j] = hi^2 - lo^2`` for the code step lo -> hi it causes; the same outward for the
    negative midpoints; missing events are padded with div = inf (key 0) and zero increments.
    """
    lv = [float(v) for v in qset.unit_levels]
    mids = [(a + b) / 2.0 for a, b in zip(lv[:-1], lv[1:])]
    i0_pos = sum(1 for m in mids if m <= 0.0)  # searchsorted(mids, 0, 'right')
    i0_neg = sum(1 for m in mids if m < 0.0)  # searchsorted(mids, 0, 'left')
    top = len(lv) - 1
    pos_m = [m for m in mids if m > 0]
    neg_m = [m for m in mids if m < 0][::-1]
    E = max(len(pos_m), len(neg_m))
    inf = float("inf")
    pos_div, pos_dz, pos_dz2 = [inf] * E, [0.0] * E, [0.0] * E
    neg_div, neg_dz, neg_dz2 = [inf] * E, [0.0] * E, [0.0] * E
    for j in range(len(pos_m)):  # loop over the few midpoints only
        lo, hi = lv[i0_pos + j], lv[i0_pos + j + 1]
        pos_div[j], pos_dz[j], pos_dz2[j] = pos_m[j], hi - lo, hi * hi - lo * lo
    for j in range(len(neg_m)):
        lo, hi = lv[i0_neg - j], lv[i0_neg - j - 1]
        neg_div[j], neg_dz[j], neg_dz2[j] = -neg_m[j], hi - lo, hi * hi - lo * lo

    def t(x: list[float]) -> Tensor:
        return torch.tensor(x, dtype=dtype, device=device)

    return {
        "levels": t(lv), "mids": t(mids if mids else [inf]),
        "z0": t([lv[min(i0_pos, top)], lv[min(i0_neg, top)]]),
        "pos_div": t(pos_div), "pos_dz": t(pos_dz), "pos_dz2": t(pos_dz2),
        "neg_div": t(neg_div), "neg_dz": t(neg_dz), "neg_dz2": t(neg_dz2),
        "zero_code": torch.tensor(i0_pos if i0_pos <= top else top, device=device),
    }


def tables(qset: QuantSet, dtype: torch.dtype, device: torch.device | str) -> dict[str, Tensor]:
    """Public accessor of the cached level/midpoint tables (read-only tensors)."""
    return _tables(qset, dtype, torch.device(device))


#: Up to this many midpoints, :func:`nearest_codes` counts by comparisons instead of a search.
_COMPARE_MAX = 16


def nearest_codes(x: Tensor, mids: Tensor) -> Tensor:
    r"""Index of the nearest unit level to each entry of ``x`` given sorted midpoints ``mids``.

    :math:`\#\{m_j \le x\}` for :math:`x \ge 0` and :math:`\#\{m_j < x\}` for :math:`x < 0`: ties go
    to the level farther from zero (0 on a midpoint 0 goes up). Exact comparisons (binary search).
    """
    if mids.numel() <= _COMPARE_MAX and mids.device.type == "cpu":
        # the same counts by one comparison per midpoint (no binary search; ~5x faster on CPU):
        # m > 0 is counted iff x >= m (x < 0 < m never is); m < 0 iff x > m (x >= 0 > m always
        # is); m == 0 iff x >= 0.
        out = torch.zeros(x.shape, dtype=torch.int64, device=x.device)
        for m in mids.tolist():  # loop over the few midpoints only
            if m == float("inf"):
                continue
            out += (x >= m) if m > 0 else (x > m) if m < 0 else (x >= 0)
        return out
    x = x.contiguous()
    right = torch.searchsorted(mids, x, right=True)
    left = torch.searchsorted(mids, x, right=False)
    return torch.where(x >= 0, right, left)


def _ternary_alpha(a: Tensor) -> Tensor:
    """alpha = S_t*/t*, t* = argmax_t S_t^2/t over |a| sorted decreasingly, per row."""
    if a.device.type == "cpu":  # numpy's vectorised value sort is ~20x faster than torch's CPU
        u = np.abs(a.numpy())  # sort; the sorted values are the same, so is the result
        u.sort(axis=1)
        s = torch.from_numpy(u[:, ::-1].copy())
    else:
        s = torch.sort(a.abs(), dim=1, descending=True).values
    S = torch.cumsum(s, dim=1)
    t = torch.arange(1, a.shape[1] + 1, dtype=a.dtype, device=a.device)
    # state t = 0 (z = 0, value 0) first: it wins when every value underflows to 0 (tie rule)
    value = torch.cat([torch.zeros_like(S[:, :1]), S * S / t], dim=1)
    k = torch.argmax(value, dim=1, keepdim=True)
    S0 = torch.cat([torch.zeros_like(S[:, :1]), S], dim=1)
    return torch.gather(S0, 1, k)[:, 0] / torch.clamp_min(k[:, 0], 1).to(a.dtype)


def _sweep_alpha(a: Tensor, tb: dict[str, Tensor]) -> Tensor:
    """Optimal free scale per row by the breakpoint sweep (see the module docstring)."""
    C, n = a.shape
    pos, neg = a > 0, a < 0
    z0 = torch.where(a >= 0, tb["z0"][0], tb["z0"][1])
    s1_0 = torch.sum(a * z0, dim=1, keepdim=True)
    s2_0 = torch.sum(z0 * z0, dim=1, keepdim=True)
    E = tb["pos_div"].numel()
    if E == 0:
        s1, s2 = s1_0, s2_0
    else:
        order = torch.sort(-a.abs(), dim=1, stable=True).indices  # decreasing |w|, stable
        a_s = torch.gather(a, 1, order)
        absw = a_s.abs()[:, None, :]  # (C, 1, n)
        p_s, n_s = (a_s > 0)[:, None, :], (a_s < 0)[:, None, :]
        zero = a.new_zeros(())

        def col(x: Tensor) -> Tensor:
            return x[None, :, None]  # (1, E, 1)

        keys = torch.where(p_s, absw / col(tb["pos_div"]),
                           torch.where(n_s, absw / col(tb["neg_div"]), zero))
        dz = torch.where(p_s, col(tb["pos_dz"]), torch.where(n_s, col(tb["neg_dz"]), zero))
        d2 = torch.where(p_s, col(tb["pos_dz2"]), torch.where(n_s, col(tb["neg_dz2"]), zero))
        d1 = a_s[:, None, :] * dz
        perm = torch.sort(-keys.reshape(C, E * n), dim=1, stable=True).indices
        d1 = torch.gather(d1.reshape(C, E * n), 1, perm)
        d2 = torch.gather(d2.reshape(C, E * n), 1, perm)
        s1 = torch.cat([s1_0, s1_0 + torch.cumsum(d1, dim=1)], dim=1)
        s2 = torch.cat([s2_0, s2_0 + torch.cumsum(d2, dim=1)], dim=1)
        del pos, neg
    s1p = torch.clamp_min(s1, 0.0)
    good = s2 > 0
    value = torch.where(good, s1p * s1p / torch.where(good, s2, torch.ones_like(s2)),
                        torch.zeros_like(s2))
    k = torch.argmax(value, dim=1, keepdim=True)
    b1, b2 = torch.gather(s1p, 1, k)[:, 0], torch.gather(s2, 1, k)[:, 0]
    return torch.where(b2 > 0, b1 / torch.where(b2 > 0, b2, torch.ones_like(b2)),
                       torch.zeros_like(b2))


def _symmetric(tb: dict[str, Tensor]) -> bool:
    """Same events for both signs and z0(-w) = -z0(w) (Uniform, Symmetric, symmetric grids)."""
    return bool(torch.equal(tb["pos_div"], tb["neg_div"])
                and torch.equal(tb["pos_dz"], -tb["neg_dz"])
                and torch.equal(tb["pos_dz2"], tb["neg_dz2"]) and tb["z0"][0] == -tb["z0"][1])


def _sides(a: Tensor, tb: dict[str, Tensor]) -> list[tuple[Tensor, ...]]:
    """Per sign: (|w| of that sign sorted ascending (C, n), top-k sums (C, n+1) in float64,
    midpoints div (E,), and the s1/s2 increments per event (E,) in float64). A symmetric table
    (same events for both signs) is one side over all of |w|."""
    sym = (torch.equal(tb["pos_div"], tb["neg_div"]) and torch.equal(tb["pos_dz"], -tb["neg_dz"])
           and torch.equal(tb["pos_dz2"], tb["neg_dz2"]))
    parts = [(a.abs(), tb["pos_div"], tb["pos_dz"], tb["pos_dz2"])] if sym else [
        (torch.where(a > 0, a, 0.0), tb["pos_div"], tb["pos_dz"], tb["pos_dz2"]),
        (torch.where(a < 0, -a, 0.0), tb["neg_div"], -tb["neg_dz"], tb["neg_dz2"])]
    out = []
    for u, div, dz, dz2 in parts:
        if u.device.type == "cpu":  # numpy's value sort is ~20x faster than torch's on CPU
            un = u.numpy().copy()
            un.sort(axis=1)
            U = torch.from_numpy(un)
        else:
            U = torch.sort(u, dim=1).values
        top = torch.cumsum(U.flip(1).double(), dim=1)
        top = torch.cat([torch.zeros_like(top[:, :1]), top], dim=1)
        out.append((U, top, div, dz.double(), dz2.double()))
    return out


def _state(sides: list, s10: Tensor, s20: Tensor, kappa: Tensor) -> tuple[Tensor, Tensor]:
    r"""(s1, s2) in float64 of the sweep state at scales ``kappa`` (C, K): every event of key
    :math:`|w_i|/m_j \ge \kappa` applied, i.e. per side and midpoint the
    :math:`c_j = \#\{u \ge \kappa m_j\}` largest entries moved one level outward."""
    C, K = kappa.shape
    s1, s2 = s10.expand(C, K).clone(), s20.expand(C, K).clone()
    for U, top, div, dz, dz2 in sides:
        n, E = U.shape[1], div.numel()
        thr = (kappa[:, None, :] * div[None, :, None]).reshape(C, E * K)
        cnt = n - torch.searchsorted(U, thr.to(U.dtype).contiguous())  # (C, E*K)
        s1 += (torch.gather(top, 1, cnt).reshape(C, E, K) * dz[None, :, None]).sum(1)
        s2 += (cnt.reshape(C, E, K).double() * dz2[None, :, None]).sum(1)
    return s1, s2


def _value(s1: Tensor, s2: Tensor) -> Tensor:
    s1p = torch.clamp_min(s1, 0.0)
    return torch.where(s2 > 0, s1p * s1p / torch.where(s2 > 0, s2, 1.0), 0.0)


#: Quantile probes, zoom rounds and probes per round, hint factors, pruning tolerance (relative to
#: sum w^2; covers the float64 rounding of the prefix sums, error <= n*eps*sum).
_Q, _ROUNDS, _G = 16, 3, 48
_HINT = (0.9, 0.97, 0.99, 0.997, 0.999, 1.0, 1.001, 1.003, 1.01, 1.03, 1.1)
_TOL = 1e-9


def _range(U: Tensor, P1: Tensor, P2: Tensor, x: Tensor, y: Tensor,
           c: Tensor) -> Tensor:
    """sum over sorted entries u in [x, y) of (u - c)^2, from prefix sums (float64)."""
    i = torch.searchsorted(U, x.to(U.dtype).contiguous())
    j = torch.searchsorted(U, torch.maximum(x, y).to(U.dtype).contiguous())
    n1 = torch.gather(P1, 1, j) - torch.gather(P1, 1, i)
    n2 = torch.gather(P2, 1, j) - torch.gather(P2, 1, i)
    return torch.clamp_min(n2 - 2.0 * c * n1 + c * c * (j - i).double(), 0.0)


def _dist_lb(U: Tensor, P1: Tensor, P2: Tensor, lev: Tensor, a: Tensor, b: Tensor) -> Tensor:
    r"""Lower bound of :math:`D(\alpha) = \sum_i \min_l (u_i - \alpha l)^2` over
    :math:`\alpha \in [a, b]` (C, K), levels ``lev`` (L,) >= 0 ascending: each entry's distance
    to the union of the level intervals :math:`[a l, b l]` (exact :math:`D(a)` when a = b).
    Segments (one vectorised call): below :math:`a l_0`; each gap :math:`[b l_k, a l_{k+1})` split
    at its middle (distance to the left / right end); above :math:`b l_{L-1}`."""
    C, K = a.shape
    A, B = a[:, None, :], b[:, None, :]
    L = lev[None, :, None]
    x1 = B * L[:, :-1]  # gap starts b*l_k
    x3 = torch.maximum(A * L[:, 1:], x1)  # gap ends a*l_{k+1} (empty if the intervals overlap)
    x2 = 0.5 * (x1 + x3)
    zero, inf = torch.zeros_like(A), torch.full_like(A, float("inf"))
    lo = torch.cat([zero, x1, x2, B * L[:, -1:]], 1)
    hi = torch.cat([A * L[:, :1], x2, x3, inf], 1)
    c = torch.cat([A * L[:, :1], x1, x3, B * L[:, -1:]], 1)
    r = _range(U, P1, P2, lo.reshape(C, -1), hi.reshape(C, -1), c.reshape(C, -1))
    return r.reshape(C, -1, K).sum(1)


def _pruned_alpha(a: Tensor, tb: dict[str, Tensor], hint: Tensor | None = None) -> Tensor:
    r"""Optimal free scale per row by a *pruned* exact breakpoint search (CPU, symmetric sets).

    Derived here (independent of theory's code). With :math:`u = |w|` sorted once (value sort) and
    prefix sums of :math:`u, u^2`:

    * the sweep state at scale κ (every event of key :math:`u_i/m_j \ge \kappa` applied = the
      nearest codes at :math:`\alpha=\kappa`, tie rule included) has
      :math:`s_1 = s_1^0+\sum_j \Delta z_j T(c_j)`, :math:`s_2 = s_2^0+\sum_j\Delta z_j^2 c_j`,
      :math:`c_j = \#\{u \ge \kappa m_j\}`, T(c) = sum of the c largest (:func:`_state`);
    * :math:`\mathrm{dist}^* = \min_{\alpha>0} D(\alpha)`, :math:`D(\alpha) = \sum_i
      \min_l (u_i-\alpha l)^2` (each D(α) is the distance of a feasible point, and
      :math:`D(\alpha^*) = \mathrm{dist}^*`), and :math:`D \ge` :func:`_dist_lb` on
      :math:`[a, b]`.

    Probes (quantiles of the keys, the extreme keys, ``hint`` × factors near 1) give
    :math:`D_{best} \ge \mathrm{dist}^*`; intervals between consecutive probes with lower bound
    above :math:`D_{best}` (+ tolerance) cannot hold :math:`\alpha^*` and are dropped; the hull of
    the rest is re-probed (``_ROUNDS`` zoom rounds). Finally the state at every key in the hull
    (plus the next key above it per midpoint, the all-``z0`` and the saturated states, for
    :math:`\alpha^*` outside the keys' range, and the probes) is evaluated
    exactly; :math:`z(\alpha^*)` is one of them, so the best :math:`(s_1)_+^2/s_2` is the global
    maximum. Returns its scale :math:`s_1/s_2`; the caller recomputes codes and refits, as for the
    full sweep. Host syncs (candidate counts): CPU only; CUDA uses the full sweep.
    """
    C = a.shape[0]
    z0 = torch.where(a >= 0, tb["z0"][0], tb["z0"][1]).double()
    s10 = torch.sum(a.double() * z0, dim=1, keepdim=True)
    s20 = torch.sum(z0 * z0, dim=1, keepdim=True)
    sides = _sides(a, tb)
    U, top, div, dz, _ = sides[0]
    n = U.shape[1]
    Ud = U.double()
    P1 = torch.cat([torch.zeros_like(Ud[:, :1]), torch.cumsum(Ud, 1)], 1)
    P2 = torch.cat([torch.zeros_like(Ud[:, :1]), torch.cumsum(Ud * Ud, 1)], 1)
    lev = torch.cat([tb["z0"][:1].double(), tb["z0"][:1].double() + torch.cumsum(dz, 0)])
    fin = div[torch.isfinite(div)].double()
    kmax = Ud[:, -1] / fin.min()
    first = torch.searchsorted(U, torch.zeros(C, 1, dtype=U.dtype), right=True).clamp_max(n - 1)
    upos = torch.gather(Ud, 1, first)[:, 0]
    kmin = torch.where(upos > 0, upos / fin.max(), kmax)
    good = kmax > 0
    kmax, kmin = torch.where(good, kmax, 1.0), torch.where(good, kmin, 1.0)
    q = torch.linspace(0, n - 1, min(_Q, n)).round().long()
    probes = [(Ud[:, q][:, :, None] / fin).reshape(C, -1), kmax[:, None], kmin[:, None]]
    if hint is not None:
        probes.append(hint.double()[:, None] * torch.tensor(_HINT, dtype=torch.float64))
    p = torch.cat(probes, 1)
    p = torch.minimum(torch.maximum(torch.where(torch.isfinite(p) & (p > 0), p, kmax[:, None]),
                                    kmin[:, None]), kmax[:, None])
    tol = _TOL * P2[:, -1:]
    best = torch.full((C, 1), float("inf"), dtype=torch.float64)
    lo, hi = kmin[:, None], kmax[:, None]
    for r in range(_ROUNDS + 1):
        if r > 0:  # zoom: geometric probes over the surviving hull
            t = torch.linspace(0.0, 1.0, _G, dtype=torch.float64)
            p = lo * torch.pow(hi / lo, t)
        p = torch.sort(p, dim=1, descending=True).values
        best = torch.minimum(best, _dist_lb(U, P1, P2, lev, p, p).min(1, keepdim=True).values)
        lb = _dist_lb(U, P1, P2, lev, p[:, 1:], p[:, :-1])
        keep = lb <= best + tol
        ar = torch.arange(lb.shape[1])
        K = lb.shape[1]
        top_k = torch.where(keep, ar, K).min(1, keepdim=True).values
        bot_k = torch.where(keep, ar, -1).max(1, keepdim=True).values
        anyk = bot_k >= 0
        hi = torch.where(anyk, torch.gather(p, 1, top_k.clamp_max(K - 1)), p[:, :1])
        lo = torch.where(anyk, torch.gather(p, 1, (bot_k + 1).clamp(0, K)), p[:, :1])
    # Exact scan of the hull: the events (entry, midpoint) with key u/m_j in [lo, hi] are those
    # of index i0_j <= t < i1_j in each run; "base" = every event above them applied (the state
    # just above the hull). Sorting the window's keys (stable) and accumulating gives the state at
    # every key of the hull. z0 (alpha above every key) and the saturated state (below every key)
    # are candidates too: alpha* may lie outside [kmin, kmax], where D was not probed.
    b1, b2 = s10[:, 0].clone(), s20[:, 0].clone()
    keys, d1s, d2s = [], [], []
    _, _, _, dz, dz2 = sides[0]
    for j, d in enumerate(div.double().tolist()):  # the few midpoints
        if d == float("inf"):
            continue
        i0 = torch.searchsorted(U, (lo * d * (1 - 1e-12)).to(U.dtype))
        i1 = torch.searchsorted(U, (hi * d * (1 + 1e-12)).to(U.dtype), right=True)
        i0 = torch.where(anyk, torch.minimum(i0, i1), i1)
        b1 += torch.gather(top, 1, n - i1)[:, 0] * dz[j]
        b2 += (n - i1)[:, 0].double() * dz2[j]
        m = int((i1 - i0).max())  # the host sync of this CPU path
        if m == 0:
            continue
        idx = i0 + torch.arange(m)
        ok = idx < i1
        u = torch.gather(Ud, 1, idx.clamp_max(n - 1))
        keys.append(torch.where(ok, u / d, -float("inf")))
        d1s.append(torch.where(ok, u * dz[j], 0.0))
        d2s.append(torch.where(ok, dz2[j], 0.0))
    sat1, sat2 = _state(sides, s10, s20, kmin[:, None])
    c1 = [s10, b1[:, None]]
    c2 = [s20, b2[:, None]]
    if keys:
        order = torch.sort(torch.cat(keys, 1), dim=1, descending=True, stable=True).indices
        c1.append(b1[:, None] + torch.cumsum(torch.gather(torch.cat(d1s, 1), 1, order), 1))
        c2.append(b2[:, None] + torch.cumsum(torch.gather(torch.cat(d2s, 1), 1, order), 1))
    c1, c2 = torch.cat(c1 + [sat1], 1), torch.cat(c2 + [sat2], 1)
    k = torch.argmax(_value(c1, c2), dim=1, keepdim=True)  # first from alpha = +inf wins
    b1 = torch.clamp_min(torch.gather(c1, 1, k)[:, 0], 0.0)
    b2 = torch.gather(c2, 1, k)[:, 0]
    return torch.where(b2 > 0, b1 / torch.where(b2 > 0, b2, 1.0), 0.0).to(a.dtype)


def project_rows(rows: Tensor, qset: QuantSet,
                 hint: Tensor | None = None) -> tuple[Tensor, Tensor]:
    r"""Project every row of a (C, n) floating tensor onto ``qset``: returns (alpha (C,), codes).

    The hot-path core (no validation; no host sync on CUDA). ``rows`` must already be in the
    compute dtype (float32/float64); codes are int64 indices into the sorted unit levels and
    ``q = alpha[:, None] * levels[codes]``. ``hint`` (C,): a guess of the optimal scales (e.g. the
    previous step's); it only speeds up the pruned CPU search, the result is the exact minimiser
    whatever the hint.
    """
    tb = _tables(qset, rows.dtype, rows.device)
    mids = tb["mids"]
    if qset.scale is not None:
        alpha = torch.full((rows.shape[0],), qset.scale, dtype=rows.dtype, device=rows.device)
        return alpha, nearest_codes(rows / qset.scale, mids)
    if isinstance(qset, Binary):
        alpha = torch.abs(rows).sum(dim=1) / rows.shape[1]
    elif qset.unit_levels == (-1.0, 0.0, 1.0):
        alpha = _ternary_alpha(rows)
    elif rows.device.type == "cpu" and tb["pos_div"].numel() > 0 and _symmetric(tb):
        alpha = _pruned_alpha(rows, tb, hint)
    else:
        alpha = _sweep_alpha(rows, tb)
    # Codes at alpha, then the least-squares refit of alpha (both can only lower the objective).
    pos = alpha > 0
    safe = torch.where(pos, alpha, torch.ones_like(alpha))[:, None]
    codes = torch.where(pos[:, None], nearest_codes(rows / safe, mids), tb["zero_code"])
    z = tb["levels"][codes]
    s1 = torch.sum(rows * z, dim=1)
    s2 = torch.sum(z * z, dim=1)
    ok = (s2 > 0) & (s1 > 0)
    alpha = torch.where(ok, s1 / torch.where(s2 > 0, s2, torch.ones_like(s2)),
                        torch.zeros_like(s1))
    # a failed refit (<w, z> <= 0) means the zero point: alpha = 0 with the zero code
    codes = torch.where(ok[:, None], codes, tb["zero_code"])
    return alpha, codes


def to_rows(w: Tensor, axis: int | None, dtype: torch.dtype) -> Tensor:
    """(C, n) view/copy of ``w`` in ``dtype``: one row (axis None) or one row per slice."""
    if axis is None:
        return w.reshape(1, -1).to(dtype)
    return w.movedim(axis, 0).reshape(w.shape[axis], -1).to(dtype)


def from_rows(rows: Tensor, shape: torch.Size, axis: int | None) -> Tensor:
    """Inverse of :func:`to_rows` for a (C, n) tensor (dtype kept)."""
    if axis is None:
        return rows.reshape(shape)
    moved = (shape[axis],) + tuple(s for i, s in enumerate(shape) if i != axis)
    return rows.reshape(moved).movedim(0, axis)


def quantize_(out: Tensor, w: Tensor, qset: QuantSet, axis: int | None,
              hint: Tensor | None = None) -> Tensor:
    r"""Hot path: write :math:`P_Q(w)` into ``out`` (same shape/dtype as ``w``); returns the scale.

    ``Binary`` with one scale per tensor takes a shortcut with the same result as
    :func:`project_rows` (:math:`\alpha = \sum|w|/n`, the refit is the identity there since
    :math:`\langle w, \mathrm{sign}\,w\rangle = \|w\|_1` and :math:`\|z\|^2 = n`).
    """
    cd = compute_dtype(w.dtype)
    if isinstance(qset, Binary) and qset.scale is None and axis is None:
        wc = w if w.dtype == cd else w.to(cd)
        alpha = wc.abs().sum() / wc.numel()
        if w.dtype == cd:
            torch.where(w >= 0, alpha, -alpha, out=out)
        else:
            out.copy_(torch.where(wc >= 0, alpha, -alpha))
        return alpha
    rows = to_rows(w, axis, cd)
    if hint is not None:
        hint = hint.reshape(-1).to(cd)
    alpha, codes = project_rows(rows, qset, hint)
    q = alpha[:, None] * _tables(qset, cd, w.device)["levels"][codes]
    out.copy_(from_rows(q, w.shape, axis))
    return alpha if axis is not None else alpha[0]


def _check_axis(axis: object, ndim: int) -> int | None:
    if axis is None:
        return None
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"axis must be None or an int, got {type(axis).__name__}")
    axis = int(axis)
    if ndim == 0:
        raise ValueError(f"axis={axis} needs a tensor with at least one dimension, got a scalar")
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis must lie in [{-ndim}, {ndim}) for a {ndim}-d tensor, got {axis}")
    return axis % ndim


def check_qset(qset: object, name: str = "qset") -> QuantSet:
    """Return ``qset`` if it is a :class:`theory.sets.QuantSet`, else raise TypeError."""
    if not isinstance(qset, QuantSet):
        raise TypeError(f"{name} must be a theory.sets.QuantSet (e.g. Ternary(), Uniform(4)), "
                        f"got {type(qset).__name__}")
    return qset


def project(w: Tensor, qset: QuantSet, axis: int | None = None, *,
            check: bool = True) -> TorchProjection:
    r"""Exact Euclidean projection of ``w`` onto ``qset`` (jointly over scale and codes).

    .. math:: P_Q(w) \in \arg\min_{\alpha \ge 0,\; z \in L^n} \|w - \alpha z\|^2

    Args:
        w: floating tensor (float16/bfloat16/float32/float64), non-empty, finite; any device.
        qset: a :class:`theory.sets.QuantSet` (``Binary()``, ``Ternary()``, ``Uniform(b)``,
            ``Symmetric(b)``, ``Grid(levels, scale)``).
        axis: ``None`` for one scale for the whole tensor, or the axis whose slices get one scale
            each (``axis=0``: per output channel).
        check: validate finiteness (one host sync); the optimizer's hot path skips it.

    Returns:
        :class:`TorchProjection` ``(q, scale, codes, dist2)``.

    Raises:
        TypeError: ``w`` not a floating tensor; ``qset`` not a QuantSet; ``axis`` not an int.
        ValueError: ``w`` empty or non-finite; ``axis`` out of range.

    Source: papers.md §A1-A3; the sweep and the tie rule as derived in :mod:`theory.projection`
    (independent implementation, compared in tests). Example::

        >>> import torch
        >>> from theory.sets import Ternary
        >>> r = project(torch.tensor([0.1, -2.0, 1.5, 0.2], dtype=torch.float64), Ternary())
        >>> r.q.tolist(), float(r.scale)
        ([0.0, -1.75, 1.75, 0.0], 1.75)
    """
    if not isinstance(w, Tensor):
        raise TypeError(f"w must be a torch.Tensor, got {type(w).__name__}")
    if not w.dtype.is_floating_point:
        raise TypeError(f"w must have a floating dtype (float16/bfloat16/float32/float64), "
                        f"got {w.dtype}")
    check_qset(qset)
    ax = _check_axis(axis, w.dim())
    if w.numel() == 0:
        raise ValueError(f"w must be non-empty, got shape {tuple(w.shape)}")
    if check and not bool(torch.isfinite(w).all()):
        raise ValueError("w must be finite, found NaN or Inf")
    w = w.detach()
    cd = compute_dtype(w.dtype)
    rows = to_rows(w, ax, cd)
    alpha, codes = project_rows(rows, qset)
    q_rows = alpha[:, None] * _tables(qset, cd, w.device)["levels"][codes]
    dist2 = torch.sum((rows - q_rows) ** 2, dim=1)
    q = from_rows(q_rows, w.shape, ax).to(w.dtype)
    codes = from_rows(codes, w.shape, ax)
    if ax is None:
        return TorchProjection(q, alpha[0], codes, dist2[0])
    return TorchProjection(q, alpha, codes, dist2)
