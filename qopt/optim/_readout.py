"""What a :class:`~qopt.QuantOptimizer` reports about its quantized tensors, all read from the
kept projection of the current latent weights (nothing is projected again): evaluation at
P_Q(w), ``finalize``, integer codes (``quantized_state``, used by :func:`qopt.export_quantized`)
and diagnostics."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor

from qopt.optim import diagnostics

__all__ = ["Readout"]


class Readout:
    """Mixin of :class:`~qopt.QuantOptimizer` (uses its entries, method, base and counters)."""

    _entries: list[Any]
    _params: list[Tensor]
    _prev: dict[int, dict[str, Tensor]]
    _rec: dict[int, dict[str, Tensor]]
    base: Any
    method: Any
    state_m: Any
    counters: dict[str, int]

    @contextlib.contextmanager
    def eval_quantized(self) -> Iterator[None]:
        """Inside: every quantized parameter holds exactly P_Q(latent) (the step's kept
        projection); restored on exit."""
        with torch.no_grad():
            saved = [p.detach().clone() for p in self._params]
            for e in self._entries:
                e.param.copy_(e.kept_q())
        try:
            yield
        finally:
            with torch.no_grad():
                if saved:
                    torch._foreach_copy_(self._params, saved)

    @torch.no_grad()
    def finalize(self) -> None:
        """Write P_Q(latent) into every quantized parameter for good (end of training)."""
        for e in self._entries:
            e.param.copy_(e.kept_q())

    @torch.no_grad()
    def quantized_state(self) -> dict[Tensor, tuple[Tensor, Tensor, Tensor, int | None]]:
        """param -> (codes int64, scale, levels, axis) with ``scale * levels[codes]`` equal to
        P_Q(latent) (= the parameter after :meth:`finalize` / inside :meth:`eval_quantized`); the
        scale is 0-d, or shaped to broadcast along ``axis``."""
        return {e.param: _state_of(e) for e in self._entries}

    @torch.no_grad()
    def quantized_blocks(self) -> dict[Tensor, dict[str, Any]]:
        """param -> the kept projection in its compact form: ``codes`` (int64, indices into
        ``levels``), ``scale`` (per tensor, slice or block, as the projection returned it),
        ``zero_point`` (affine sets, shaped like ``scale``; else None), ``levels`` (the unit
        levels; for an affine set the codes 0..2^b-1), ``axis``, ``group_size`` and ``qset``;
        q = scale * (levels[codes] - zero_point) per block
        (:func:`qopt.projection.blocks.expand_blocks`). Used by the packed export."""
        out = {}
        for e in self._entries:
            if e.axis is None and e.group_size is None:
                scale = e.scale[0].clone()
                zp = None if e.zero_point is None else e.zero_point[0].clone()
            else:
                C = 1 if e.axis is None else e.latent.shape[e.axis]
                shp = (-1,) if e.axis is None else (C, -1)
                if e.group_size is None:
                    shp = (C,)
                scale = e.scale.reshape(shp).clone()
                zp = None if e.zero_point is None else e.zero_point.reshape(shp).clone()
            out[e.param] = {"codes": e.kept_codes(), "scale": scale, "zero_point": zp,
                            "levels": e.levels.clone(), "axis": e.axis,
                            "group_size": e.group_size, "qset": e.qset}
        return out

    @torch.no_grad()
    def diagnostics(self) -> dict[str, Tensor | float]:
        """Per tensor ``NAME/<metric>`` (0-d float64 tensors, no host sync) plus the method's
        scalars (``lam`` / ``rho`` / ``inv_slope``, ``phase``), ``lr`` and ``step``; formulas in
        :mod:`qopt.optim.diagnostics`."""
        out, self._prev = diagnostics.collect(self._entries, self._prev, self._rec)
        out.update(self.method.scalars(self.state_m))
        qg = [g for g in self.base.param_groups if g.get("qset") is not None]
        lr = (qg or self.base.param_groups)[0]["lr"]
        out["lr"] = float(lr) if not torch.is_tensor(lr) else lr
        out["step"] = float(self.counters["steps"])
        return out



def _state_of(e: Any) -> tuple[Tensor, Tensor, Tensor, int | None]:
    """(codes, scale, levels, axis) of one entry with scale * levels[codes] = P(latent).

    An affine entry (levels l - z with a zero point per slice or block) is given over the one
    table T = {-(2^b-1), ..., 2^b-1} of every value l - z can take, codes (l - z) + 2^b - 1:
    the same products, bit for bit, since l - z is an exact small integer."""
    if e.zero_point is None:
        return e.kept_codes(), e.kept_scale(), e.levels.clone(), e.axis
    top = e.levels.numel() - 1
    table = torch.arange(-top, top + 1, dtype=e.levels.dtype, device=e.levels.device)
    codes = e.kept_codes() - e.offset_map().long() + top
    return codes, e.kept_scale(), table, e.axis
