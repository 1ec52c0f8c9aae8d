r"""Per-set constants: levels, midpoints and the sweep's event tables (cached per device/dtype).

For a set with sorted unit levels :math:`l_0 < \dots < l_{k-1}` and midpoints
:math:`m_j = (l_j + l_{j+1})/2` (:func:`theory.sets.level_midpoints`, overflow-free), the
breakpoint sweep (:mod:`qopt.projection.sweep`) moves an entry :math:`w_i \ge 0` from level lo to
level hi when :math:`\alpha` falls below its key :math:`w_i/m_j` (positive midpoints, ascending)
and an entry :math:`w_i < 0` likewise across the negative midpoints. Each event adds
:math:`|w_i|\,(hi - lo)` to :math:`s_1 = \langle w, z\rangle` and :math:`hi^2 - lo^2` to
:math:`s_2 = \|z\|^2`; the start codes :math:`z^0` are the levels nearest to 0+ and 0-.
For a symmetric set (:math:`L = -L`) both signs see the same events, so the sweep runs on
:math:`|w|` alone (:class:`SymmetricEvents`).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import torch
from torch import Tensor

from theory.sets import Binary, QuantSet, level_midpoints

__all__ = ["compute_dtype", "tables", "SymmetricEvents", "symmetric_events", "is_binary",
           "codes_dtype"]


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float64 stays float64; every other floating dtype is computed in float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def codes_dtype(n_levels: int) -> torch.dtype:
    """Smallest signed integer dtype for level indices 0..n_levels-1 (int8 up to 127 levels),
    as :func:`theory.coding.code_dtype`."""
    for dt in (torch.int8, torch.int16, torch.int32):
        if n_levels - 1 <= torch.iinfo(dt).max:
            return dt
    return torch.int64


def is_binary(qset: QuantSet) -> bool:
    """Free-scale ``Binary``: the closed form :math:`\\alpha = \\|w\\|_1/n` applies."""
    return isinstance(qset, Binary) and qset.scale is None


@functools.lru_cache(maxsize=256)
def _tables(qset: QuantSet, dtype: torch.dtype, device: torch.device) -> dict[str, Tensor]:
    """Levels, midpoints and sweep tables of ``qset`` on ``device`` (cached; never mutated).

    Sweep tables (float64 arithmetic on the unit levels): for the j-th positive midpoint
    (ascending) ``pos_div[j] = m_j``, ``pos_dz[j] = hi - lo`` and ``pos_dz2[j] = hi^2 - lo^2``
    for the code step lo -> hi it causes; the same outward for the negative midpoints; missing
    events are padded with div = inf (key 0) and zero increments.
    """
    import numpy as np

    lv = [float(v) for v in qset.unit_levels]
    mids = [float(m) for m in level_midpoints(np.array(lv))] if len(lv) > 1 else []
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


class SymmetricEvents(NamedTuple):
    r"""The sweep of a symmetric free-scale set on :math:`u = |w|` (Python floats, float64).

    Attributes:
        z0: the level nearest to 0+ (0 with a zero level, the smallest positive level without).
        mids: the positive midpoints :math:`m_1 < \dots < m_E`.
        gaps: :math:`g_j = hi_j - lo_j` (the step of :math:`s_1` per unit of :math:`u`).
        dd: :math:`d_j = hi_j^2 - lo_j^2` (the step of :math:`s_2`); an event of entry u at
            midpoint j has slope :math:`\Delta s_1/\Delta s_2 = u g_j/d_j = u/(2 m_j)`.
    """

    z0: float
    mids: tuple[float, ...]
    gaps: tuple[float, ...]
    dd: tuple[float, ...]


@functools.lru_cache(maxsize=256)
def symmetric_events(qset: QuantSet) -> SymmetricEvents | None:
    """The events of a symmetric free-scale set with at least one positive midpoint, else None
    (fixed scale, ``Binary``, asymmetric grids)."""
    if qset.scale is not None or not qset.is_symmetric:
        return None
    tb = _tables(qset, torch.float64, torch.device("cpu"))
    div = [float(x) for x in tb["pos_div"].tolist() if x != float("inf")]
    if not div:
        return None
    E = len(div)
    return SymmetricEvents(float(tb["z0"][0]), tuple(div), tuple(tb["pos_dz"].tolist()[:E]),
                           tuple(tb["pos_dz2"].tolist()[:E]))
