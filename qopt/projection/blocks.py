r"""Group-wise granularity and affine sets in the engine: one scale (and zero point) per block.

.. math::

    P(w) = \big(P_{Q}(w_{B})\big)_{B}, \qquad
    B = \text{a block of } g \text{ consecutive entries of one row}

**Blocks** (``group_size`` g; layout and tail rule as in :mod:`theory.groups`): the tensor's rows
(one per slice along ``axis``, or the whole tensor for ``axis=None``) are cut into blocks of g
consecutive entries; when g does not divide the row length n the last block of each row, of
:math:`n \bmod g` entries, is a block of its own. The projection onto the product of the blocks'
sets is the product of their projections, so the blocks are stacked as the rows of two 2-D
tensors, ``(C * (n // g), g)`` (a reshape, no copy when the row layout is contiguous and g
divides n) and ``(C, n mod g)``, and go through :func:`qopt.projection.project_group` with
``axis=0``, i.e. the per-slice batched path of every set: no loop over blocks.

**Affine sets** (:class:`theory.sets.Affine`, levels :math:`\alpha(l - z)`,
:math:`l, z \in \{0..2^b-1\}`): the union of the :math:`2^b` free-scale cones
:math:`Q_z` over the unit levels :math:`\{-z..2^b-1-z\}`, so the projection is the projection onto
the cone of smallest distance (derivation: ``docs/math/quantization-sets.md#affine``). Each row
is first multiplied by :math:`2^{-e}` with :math:`2^{e-1} \le \max|w| < 2^e` (exact; it commutes
with every projection), the :math:`2^b` cones are projected there (one batched call per zero
point, a loop over the few zero points only), the distances are compared in float64 and the first
z of smallest distance wins (ties: the lowest z); the scale is scaled back by :math:`2^e` and
:math:`q = \alpha (l - z)` is formed in the compute dtype. An independent implementation of
:mod:`theory.affine` (torch only), compared in ``tests/qopt/test_projection_blocks.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor

from qopt.projection.codes import from_rows, to_rows
from qopt.projection.tables import codes_dtype, compute_dtype
from theory.sets import Affine, QuantSet

__all__ = ["BlockProjection", "BlockGroupProjection", "project_blocks", "project_group_blocks",
           "expand_blocks", "check_group_size"]


class BlockProjection(NamedTuple):
    r"""Result of :func:`project_blocks`: ``q`` (shape and dtype of w), ``scale`` (per block:
    (nb,) for ``axis=None``, (C, nb) with an axis; without ``group_size`` 0-d or (C,), as
    :func:`qopt.projection.project`), ``codes`` (int64, shape of w), ``dist2`` (shaped like
    ``scale``) and ``zero_point`` (None, or int64 shaped like ``scale`` for an affine set, with
    :math:`q = \text{scale}\cdot(\text{codes} - \text{zero\_point})`)."""

    q: Tensor
    scale: Tensor
    codes: Tensor
    dist2: Tensor
    zero_point: Tensor | None


class BlockGroupProjection(NamedTuple):
    """Result of :func:`project_group_blocks`: per tensor its scales, codes (small int dtype)
    and zero points (None for a set with one level table), and the calls' statistics."""

    scales: list[Tensor]
    codes: list[Tensor]
    stats: object
    zero_points: list[Tensor | None]


def check_group_size(g: object, name: str = "group_size") -> int | None:
    """None or an int >= 1 (TypeError / ValueError naming ``name``)."""
    from theory._validate import check_int

    if g is None:
        return None
    return check_int(g, name, 1, 2**40)


def _affine_rows(rows: Tensor, qset: Affine, check: bool) -> tuple[Tensor, Tensor, Tensor]:
    """(alpha (R,), codes l (R, n) int8/int16, z (R,) int64) of (R, n) compute-dtype rows."""
    from qopt.projection.batched import project_group
    from qopt.projection.project import _ldexp, _range_exponent
    from qopt.projection.tables import _tables

    e = _range_exponent(rows).to(rows.dtype)
    xs = _ldexp(rows, -e[:, None])
    xd = xs.double()
    R = rows.shape[0]
    best_d = torch.full((R,), float("inf"), dtype=torch.float64, device=rows.device)
    best_a = torch.zeros(R, dtype=rows.dtype, device=rows.device)
    best_c = torch.zeros(rows.shape, dtype=codes_dtype(qset.n_levels), device=rows.device)
    best_z = torch.zeros(R, dtype=torch.int64, device=rows.device)
    for z in qset.zero_points:  # 2^b cones (a loop over the few zero points only)
        cone = qset.shifted(z)
        res = project_group([xs], cone, axis=0, check=check)
        a, c = res.scales[0], res.codes[0]
        lv = _tables(cone, torch.float64, rows.device)["levels"]
        d = torch.sum((xd - a.double()[:, None] * lv[c.long()]) ** 2, dim=1)
        better = d < best_d  # strict: the lowest z wins ties
        best_d = torch.where(better, d, best_d)
        best_a = torch.where(better, a, best_a)
        best_c = torch.where(better[:, None], c.to(best_c.dtype), best_c)
        best_z = torch.where(better, z, best_z)
    alpha = _ldexp(best_a, e)
    zero = ~(alpha > 0)  # a zero row (and NaN rows): z = 0, code l = 0
    best_z = torch.where(zero, 0, best_z)
    best_c = torch.where(zero[:, None], torch.zeros_like(best_c), best_c)
    if not check:
        alpha = torch.where(torch.isnan(best_a), best_a, alpha)
    return alpha, best_c, best_z


def _solve(parts: list[Tensor], qset: QuantSet, hints: list[Tensor] | None, workspace,
           check: bool) -> tuple[list[Tensor], list[Tensor], list[Tensor | None], object]:
    """Scales (R,), codes (R, n) and zero points of 2-D compute-dtype tensors of rows."""
    from qopt.projection.batched import ProjectionStats, project_group

    if isinstance(qset, Affine):
        out = [_affine_rows(p, qset, check) for p in parts]
        R = sum(p.shape[0] for p in parts)
        return ([o[0] for o in out], [o[1] for o in out], [o[2] for o in out],
                ProjectionStats(rows=R, fallback=R))
    res = project_group(parts, qset, axis=0, hints=hints, workspace=workspace, check=check)
    return res.scales, res.codes, [None] * len(parts), res.stats


def _levels_of(codes: Tensor, qset: QuantSet, zp: Tensor | None, cd: torch.dtype) -> Tensor:
    """levels[codes] (or codes - z, broadcast per row) in the compute dtype, (R, n)."""
    from qopt.projection.tables import _tables

    if zp is None:
        return _tables(qset, cd, codes.device)["levels"][codes.long()]
    return codes.to(cd) - zp.to(cd)[:, None]


def project_group_blocks(ws: Sequence[Tensor], qset: QuantSet, axis: int | None,
                         group_size: int | None, *, out: Sequence[Tensor] | None = None,
                         hints: Sequence[Tensor] | None = None, workspace=None,
                         check: bool = True) -> BlockGroupProjection:
    r"""Project every tensor of a group blockwise (or, without ``group_size``, per tensor/slice
    for an affine set) and write :math:`P(w_T)` into ``out[T]``.

    Args as :func:`qopt.projection.project_group`, plus ``group_size`` (None or g >= 1).
    ``scales[t]``: (nb,) / (C, nb) per block (0-d / (C,) without ``group_size``);
    ``zero_points[t]``: the same shape, int64, for an affine set, else None. One
    :func:`~qopt.projection.project_group` call for all the tensors' full blocks and tails
    together (batched by row length), per zero point for an affine set.
    """
    g = check_group_size(group_size)
    ws = list(ws)
    outs = list(out) if out is not None else [torch.empty_like(w) for w in ws]
    if not ws:
        from qopt.projection.batched import ProjectionStats
        return BlockGroupProjection([], [], ProjectionStats(), [])
    cd = compute_dtype(ws[0].dtype)
    cdt = codes_dtype(qset.n_levels)
    parts: list[Tensor] = []
    hparts: list[Tensor] | None = [] if hints is not None else None
    layout = []  # per tensor: (C, n, block length, has tail, index of its first part)
    for t, w in enumerate(ws):
        rows = to_rows(w.detach(), axis, cd)
        C, n = rows.shape
        gg = n if g is None or g >= n else g
        nf, r = n // gg, n % gg
        layout.append((C, n, gg, r > 0, len(parts)))
        parts.append(rows[:, : nf * gg].reshape(C * nf, gg))
        if r:
            parts.append(rows[:, nf * gg:].contiguous())
        if hparts is not None:
            h = hints[t].detach().reshape(-1).to(cd)
            if h.numel() != C * (nf + (r > 0)):  # a hint of another layout: no warm start
                h = torch.full((C * (nf + (r > 0)),), float("nan"), dtype=cd, device=w.device)
            h = h.reshape(C, -1)
            hparts.append(h[:, :nf].reshape(-1))
            if r:
                hparts.append(h[:, nf])
    sc, co, zp, stats = _solve(parts, qset, hparts, workspace, check)
    scales, codes, zps = [], [], []
    for t, (w, (C, n, gg, tail, i)) in enumerate(zip(ws, layout)):
        idx = [i, i + 1] if tail else [i]
        lv = torch.cat([_levels_of(co[j], qset, zp[j], cd).reshape(C, -1) for j in idx], 1)
        a = torch.cat([sc[j].reshape(C, -1) for j in idx], 1)  # (C, nb)
        k = torch.cat([co[j].reshape(C, -1) for j in idx], 1).to(cdt)
        per = a.repeat_interleave(gg, dim=1)[:, :n]
        outs[t].copy_(from_rows(per * lv, w.shape, axis))
        codes.append(from_rows(k, w.shape, axis))
        z = None if zp[i] is None else torch.cat([zp[j].reshape(C, -1) for j in idx], 1)
        if g is None:  # one scale per tensor / slice: the shapes of project_group
            a = a[:, 0] if axis is not None else a[0, 0]
            z = None if z is None else (z[:, 0] if axis is not None else z[0, 0])
        elif axis is None:
            a, z = a[0], None if z is None else z[0]
        scales.append(a)
        zps.append(z)
    return BlockGroupProjection(scales, codes, stats, zps)


def expand_blocks(values: Tensor, shape: torch.Size, axis: int | None,
                  group_size: int | None) -> Tensor:
    """The per-entry tensor (``shape``) of per-block ``values`` ((nb,) / (C, nb); without
    ``group_size`` 0-d / (C,)): each block's value repeated over its entries."""
    C = 1 if axis is None else shape[axis]
    numel = 1
    for s in shape:
        numel *= s
    n = numel // max(C, 1)
    v = values.reshape(C, -1)
    g = n if group_size is None or group_size >= n else group_size
    per = v.repeat_interleave(g, dim=1)[:, :n]
    return from_rows(per, shape, axis)


def project_blocks(w: Tensor, qset: QuantSet, axis: int | None = None,
                   group_size: int | None = None, *, check: bool = True) -> BlockProjection:
    r"""Exact projection of ``w`` onto ``qset`` with one scale (and zero point) per block of
    ``group_size`` consecutive entries of each row (module docstring); validated like
    :func:`qopt.projection.project`. ``dist2`` per block, float64 sums of the compute-dtype
    difference."""
    from qopt.projection.project import check_axis, check_qset

    if not isinstance(w, Tensor):
        raise TypeError(f"w must be a torch.Tensor, got {type(w).__name__}")
    if not w.dtype.is_floating_point:
        raise TypeError(f"w must have a floating dtype, got {w.dtype}")
    check_qset(qset)
    ax = check_axis(axis, w.dim())
    g = check_group_size(group_size)
    if w.numel() == 0:
        raise ValueError(f"w must be non-empty, got shape {tuple(w.shape)}")
    if check and not bool(torch.isfinite(w).all()):
        raise ValueError("w must be finite, found NaN or Inf")
    w = w.detach()
    q = torch.empty_like(w)
    res = project_group_blocks([w], qset, ax, g, out=[q], check=check)
    a, z = res.scales[0], res.zero_points[0]
    if check and not bool(torch.isfinite(a).all()):
        cd = compute_dtype(w.dtype)
        raise ValueError(f"the optimal scale exceeds the range of {cd}; scale w down")
    if check and not bool(torch.isfinite(q).all()):
        raise ValueError(f"the projected point exceeds the range of {w.dtype}; scale w down")
    d = (w.double() - q.double()) ** 2
    rows = to_rows(d, ax, torch.float64)
    C, n = rows.shape
    gg = n if g is None or g >= n else g
    nb = -(-n // gg)
    pad = torch.zeros(C, nb * gg - n, dtype=torch.float64, device=w.device)
    d2 = torch.cat([rows, pad], 1).reshape(C, nb, gg).sum(dim=2).reshape(a.shape)
    return BlockProjection(q, a, res.codes[0].long(), d2, z)
