r"""The exact projection of rows, of one tensor (``project``), and the per-tensor hot path.

.. math::

    P_Q(w) \in \arg\min_{\alpha \ge 0,\; z \in L^n} \|w - \alpha z\|_2^2

Per row (one tensor, or one slice per channel along ``axis``), the scale comes from

* a fixed-scale set: its scale;
* ``Binary``: :math:`\|w\|_1/n` (:mod:`qopt.projection.binary`);
* a symmetric set on CPU, rows of at least :func:`qopt.projection.pruned.min_row` entries: the
  certified search (:mod:`qopt.projection.pruned`), warm-started by ``hint``;
* otherwise (short rows, CUDA, asymmetric grids): the top-t scan for unit levels
  :math:`\{-1,0,1\}` (:mod:`qopt.projection.ternary`), else the full breakpoint sweep
  (:mod:`qopt.projection.sweep`); both sync-free;

then the codes are the nearest levels of :math:`w/\alpha` (tie rule: :mod:`qopt.projection.codes`)
and the scale is refitted, :math:`\alpha = \langle w, z\rangle/\|z\|^2` (both steps can only lower
the objective; a refit with :math:`\langle w, z\rangle \le 0` means the zero point). This is the
same minimiser as :func:`theory.projection.project`, tie rule included; the tests compare them.

**Float range.** A row whose largest entry lies outside :math:`[2^{-50}, 2^{20}]` (float32
compute) or :math:`[2^{-400}, 2^{400}]` (float64) is multiplied by :math:`2^{-e}` with
:math:`2^{e-1} \le \max|w| < 2^e` first; scaling by a power of two is exact and commutes with
every step above (codes, tie rule, sums), so the result is the same as if no square or sum could
over- or underflow, and it equals the unscaled computation bit for bit inside the range. A scale
beyond the largest float of the compute dtype raises ``ValueError`` in :func:`project`.

Precision: float64 inputs are computed in float64; float32, bfloat16 and float16 inputs in
float32. The scans of the scale search accumulate in float64; the refit sums in the compute
dtype on the torch path (cascade sums, as the engine always did) and in float64 from the bucket
sums on the certified path.
"""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from qopt.projection.binary import binary_scale
from qopt.projection.codes import from_rows, nearest_codes, to_rows
from qopt.projection.sweep import sweep_scale
from qopt.projection.tables import _tables, compute_dtype, is_binary
from qopt.projection.ternary import ternary_scale
from theory.sets import QuantSet

__all__ = ["TorchProjection", "project", "project_rows", "quantize_", "check_qset",
           "fallback_scales", "refit_codes", "rows_torch", "check_axis", "SAFE_EXP",
           "gather_levels"]

#: log2 of the largest entry inside which no row is rescaled, per compute dtype
SAFE_EXP = {torch.float32: (-50, 20), torch.float64: (-400, 400)}


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


def _range_exponent(rows: Tensor) -> Tensor:
    """Per-row exponents e (2^(e-1) <= max|row| < 2^e; 0 for a zero row): the rows are scaled
    by 2^-e before the torch paths (exact; no host read)."""
    mx = rows.abs().amax(dim=1)
    return torch.where(mx > 0, torch.frexp(mx).exponent, 0)


def fallback_scales(rows: Tensor, qset: QuantSet) -> Tensor:
    """The sweep's scale per row of (C, n) ``rows`` (compute dtype, in range) by the sync-free
    paths: fixed scale, ``Binary`` closed form, top-t scan, full breakpoint sweep. The scans
    run in float64 (float32 running sums over E n events mislead the argmax where the value is
    flat, e.g. 4 bits on 1200 entries: a scale 3e-4 relative off)."""
    if qset.scale is not None:
        return torch.full((rows.shape[0],), qset.scale, dtype=rows.dtype, device=rows.device)
    if is_binary(qset):
        return binary_scale(rows)
    x = rows.double()
    if qset.unit_levels == (-1.0, 0.0, 1.0):
        return ternary_scale(x).to(rows.dtype)
    return sweep_scale(x, _tables(qset, torch.float64, rows.device)).to(rows.dtype)


def refit_codes(rows: Tensor, alpha: Tensor, qset: QuantSet) -> tuple[Tensor, Tensor]:
    """Codes = nearest levels of rows/alpha, then the least-squares refit of alpha (free scale),
    sums in the compute dtype (``Tensor.sum``: cascade sums). Returns (alpha (C,), codes int64
    (C, n)); a refit with <w, z> <= 0 gives the zero point."""
    tb = _tables(qset, rows.dtype, rows.device)
    if qset.scale is not None:
        return alpha, nearest_codes(rows / qset.scale, tb["mids"])
    pos = alpha > 0
    safe = torch.where(pos, alpha, torch.ones_like(alpha))[:, None]
    codes = torch.where(pos[:, None], nearest_codes(rows / safe, tb["mids"]), tb["zero_code"])
    z = gather_levels(tb["levels"], codes)
    s1 = torch.sum(rows * z, dim=1)
    s2 = torch.sum(z * z, dim=1)
    ok = (s2 > 0) & (s1 > 0)
    alpha = torch.where(ok, s1 / torch.where(s2 > 0, s2, torch.ones_like(s2)),
                        torch.zeros_like(s1))
    codes = torch.where(ok[:, None], codes, tb["zero_code"])
    return alpha, codes


def gather_levels(levels: Tensor, codes: Tensor) -> Tensor:
    """``levels[codes]`` (same values: a gather) by ``index_select`` on the flat codes: the
    advanced-indexing kernel costs ~20 ns per entry on CPU (0.2 ms for 10^4 codes, several ms
    when its threads compete), ``index_select`` about a tenth of that."""
    return levels.index_select(0, codes.reshape(-1)).reshape(codes.shape)


def _ldexp(x: Tensor, e: Tensor) -> Tensor:
    """x 2^e for |e| up to ~2000: ``torch.ldexp`` forms 2^e, which overflows beyond 2^1023
    (the scaling of subnormal rows needs 2^1073); two half steps are each exact."""
    e1 = torch.div(e, 2, rounding_mode="floor")
    return torch.ldexp(torch.ldexp(x, e1), e - e1)


def rows_torch(rows: Tensor, qset: QuantSet) -> tuple[Tensor, Tensor]:
    """The sync-free torch path for (C, n) rows (compute dtype): rows scaled by powers of two
    (exact), the scale (:func:`fallback_scales`), codes and refit (:func:`refit_codes`), the
    scale scaled back. Returns (alpha (C,), codes int64)."""
    if qset.scale is not None:
        return refit_codes(rows, fallback_scales(rows, qset), qset)
    e = _range_exponent(rows).to(rows.dtype)
    x = _ldexp(rows, -e[:, None])
    alpha, codes = refit_codes(x, fallback_scales(x, qset), qset)
    return _ldexp(alpha, e), codes


def project_rows(rows: Tensor, qset: QuantSet, hint: Tensor | None = None,
                 record: dict | None = None) -> tuple[Tensor, Tensor]:
    r"""Project every row of a (C, n) floating tensor onto ``qset``: returns (alpha (C,), codes).

    The core of every projection (no validation). ``rows`` must already be in the compute dtype
    (float32/float64); codes are int64 indices into the sorted unit levels and
    ``q = alpha[:, None] * levels[codes]``. ``hint`` (C,): a guess of the optimal scales (e.g. the
    previous step's); it only speeds up the certified CPU search, the result is the same bits
    whatever the hint. The path is :func:`qopt.projection.batched.project_group`'s.
    """
    from qopt.projection.batched import project_group

    res = project_group([rows], qset, axis=0, record=record, check=False,
                        hints=None if hint is None else [hint.reshape(-1)])
    return res.scales[0], res.codes[0].long()


def quantize_(out: Tensor, w: Tensor, qset: QuantSet, axis: int | None,
              hint: Tensor | None = None) -> Tensor:
    r"""Hot path, one tensor: write :math:`P_Q(w)` into ``out`` (same shape/dtype as ``w``);
    returns the scale (0-d for ``axis=None``, else (C,)), to pass back as the next ``hint``.
    Same result as :func:`qopt.projection.batched.project_group` on ``[w]``."""
    from qopt.projection.batched import project_group

    res = project_group([w], qset, axis, out=[out],
                        hints=None if hint is None else [hint])
    return res.scales[0]


def check_axis(axis: object, ndim: int) -> int | None:
    """Normalise ``axis`` (None or an int in [-ndim, ndim)) to a non-negative int or None."""
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
            check: bool = True, group_size: int | None = None) -> TorchProjection:
    r"""Exact Euclidean projection of ``w`` onto ``qset`` (jointly over scale and codes).

    .. math:: P_Q(w) \in \arg\min_{\alpha \ge 0,\; z \in L^n} \|w - \alpha z\|^2

    Args:
        w: floating tensor (float16/bfloat16/float32/float64), non-empty, finite (any
            magnitude: see "Float range" in the module docstring); any device.
        qset: a :class:`theory.sets.QuantSet` (``Binary()``, ``Ternary()``, ``Uniform(b)``,
            ``Symmetric(b)``, ``Grid(levels, scale)``).
        axis: ``None`` for one scale for the whole tensor, or the axis whose slices get one scale
            each (``axis=0``: per output channel).
        check: validate finiteness and the range of the result (host syncs); the optimizer's
            hot path skips it.
        group_size: None, or g >= 1: one scale per block of g consecutive entries of each row
            (:mod:`qopt.projection.blocks`; tail rule of :mod:`theory.groups`).

    Returns:
        :class:`TorchProjection` ``(q, scale, codes, dist2)``; with ``group_size`` or an
        :class:`theory.sets.Affine` set, a :class:`qopt.projection.blocks.BlockProjection`
        (the same fields, per block, plus ``zero_point``).

    Raises:
        TypeError: ``w`` not a dense (strided) floating tensor; ``qset`` not a QuantSet;
            ``axis`` not an int.
        ValueError: ``w`` a meta tensor (no data), empty or non-finite; ``axis`` out of range;
            the scale or q beyond the largest float of the compute dtype / of ``w``'s dtype.

    Source: the binary and ternary closed forms of Yin et al. 2018 (BinaryRelax), the breakpoint
    sweep and the certified search derived in :mod:`theory.sweep` and
    :mod:`qopt.projection.bounds` (independent implementation, compared in tests). Example::

        >>> import torch
        >>> from theory.sets import Ternary
        >>> r = project(torch.tensor([0.1, -2.0, 1.5, 0.2], dtype=torch.float64), Ternary())
        >>> r.q.tolist(), float(r.scale)
        ([0.0, -1.75, 1.75, 0.0], 1.75)
    """
    from theory.sets import Affine

    if group_size is not None or isinstance(qset, Affine):
        from qopt.projection.blocks import project_blocks

        return project_blocks(w, qset, axis, group_size, check=check)  # type: ignore[return-value]
    if not isinstance(w, Tensor):
        raise TypeError(f"w must be a torch.Tensor, got {type(w).__name__}")
    if w.layout != torch.strided:
        raise TypeError(f"w must be a dense (strided) tensor, got layout {w.layout}; convert "
                        "it with w.to_dense()")
    if w.is_meta:
        raise ValueError(f"w must hold data, got a meta tensor of shape {tuple(w.shape)} (no "
                         "values to project); materialize it first (e.g. to_empty + init)")
    if not w.dtype.is_floating_point:
        raise TypeError(f"w must have a floating dtype (float16/bfloat16/float32/float64), "
                        f"got {w.dtype}")
    check_qset(qset)
    ax = check_axis(axis, w.dim())
    if w.numel() == 0:
        raise ValueError(f"w must be non-empty, got shape {tuple(w.shape)}")
    if check and w.device.type != "cpu" and not bool(torch.isfinite(w).all()):  # CPU: free,
        raise ValueError("w must be finite, found NaN or Inf")  # in project_group
    w = w.detach()
    cd = compute_dtype(w.dtype)
    if w.device.type == "cpu":
        return _project_cpu(w, qset, ax, cd, check)
    rows = to_rows(w, ax, cd)
    alpha, codes = project_rows(rows, qset)
    levels = _tables(qset, cd, w.device)["levels"]
    q_rows = alpha[:, None] * levels[codes]
    if check and not (bool(torch.isfinite(alpha).all()) and bool(torch.isfinite(q_rows).all())):
        raise ValueError(f"the optimal scale exceeds the range of {cd} (largest "
                         f"{torch.finfo(cd).max:g}); scale w down, e.g. by a power of two")
    dist2 = _dist2(rows, q_rows)
    q = from_rows(q_rows, w.shape, ax).to(w.dtype)
    if check and w.dtype != cd and not bool(torch.isfinite(q).all()):
        raise ValueError(f"the projected point exceeds the range of {w.dtype} (largest "
                         f"{torch.finfo(w.dtype).max:g}); scale w down")
    codes = from_rows(codes, w.shape, ax)
    if ax is None:
        return TorchProjection(q, alpha[0], codes, dist2[0])
    return TorchProjection(q, alpha, codes, dist2)


def _project_cpu(w: Tensor, qset: QuantSet, ax: int | None, cd: torch.dtype,
                 check: bool) -> TorchProjection:
    """project() on CPU: the group path on one tensor, then dist2 in float64."""
    from qopt.projection.batched import project_group

    q = torch.empty_like(w)
    res = project_group([w], qset, ax, out=[q])
    alpha = res.scales[0].reshape(-1)
    top = float(np.max(np.abs(qset.levels)))
    if check:  # a pass over q only when alpha * (top level) could leave the dtype's range
        amax = float(alpha.abs().max())
        if not math.isfinite(amax):
            raise ValueError(f"the optimal scale exceeds the range of {cd} (largest "
                             f"{torch.finfo(cd).max:g}); scale w down, e.g. by a power of two")
        if amax * top > torch.finfo(w.dtype).max and not bool(torch.isfinite(q).all()):
            raise ValueError(f"the projected point exceeds the range of {w.dtype} (largest "
                             f"{torch.finfo(w.dtype).max:g}); scale w down")
    rows = to_rows(w, ax, cd)
    q_rows = to_rows(q, ax, cd) if w.dtype == cd else to_rows(
        from_rows(alpha[:, None] * _tables(qset, cd, w.device)["levels"][
            to_rows(res.codes[0], ax, torch.int64)], w.shape, ax), ax, cd)
    d = np.subtract(rows.contiguous().numpy(), q_rows.contiguous().numpy(), dtype=np.float64)
    mx = np.max(np.abs(d), axis=1)
    _, e = np.frexp(mx)
    lo, hi = SAFE_EXP[torch.float64]
    e = np.where((mx > 0) & ((e <= lo) | (e > hi)), e, 0)[:, None]  # scale only extreme rows
    if e.any():
        d = np.ldexp(d, -e)  # (w - q) 2^-e: squares cannot overflow; exact scaling
    with np.errstate(over="ignore"):
        dist2 = torch.from_numpy(np.ldexp(np.einsum("ij,ij->i", d, d), 2 * e[:, 0])).to(cd)
    codes = res.codes[0].long()
    if ax is None:
        return TorchProjection(q, alpha[0].clone(), codes, dist2[0])
    return TorchProjection(q, alpha.clone(), codes, dist2)


def _dist2(rows: Tensor, q_rows: Tensor) -> Tensor:
    """Per row ||w - q||^2 as 2^(2e) ||(w - q) 2^-e||^2 with 2^e >= max(|w|, |q|): no overflow
    before the final scaling (inf only when the true value exceeds the float range), and the
    same bits as the plain sum wherever that one neither over- nor underflows."""
    mx = torch.maximum(rows.abs().amax(dim=1), q_rows.abs().amax(dim=1))
    e = torch.where(mx > 0, torch.frexp(mx).exponent, 0).to(rows.dtype)[:, None]
    diff = _ldexp(rows, -e) - _ldexp(q_rows, -e)
    return _ldexp(torch.sum(diff * diff, dim=1), 2 * e[:, 0])
