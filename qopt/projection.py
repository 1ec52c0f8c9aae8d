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


def project_rows(rows: Tensor, qset: QuantSet) -> tuple[Tensor, Tensor]:
    r"""Project every row of a (C, n) floating tensor onto ``qset``: returns (alpha (C,), codes).

    The hot-path core (no validation, no host sync). ``rows`` must already be in the compute dtype
    (float32/float64); codes are int64 indices into the sorted unit levels and
    ``q = alpha[:, None] * levels[codes]``.
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


def quantize_(out: Tensor, w: Tensor, qset: QuantSet, axis: int | None) -> Tensor:
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
    alpha, codes = project_rows(rows, qset)
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
