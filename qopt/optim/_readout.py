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
        return {e.param: (e.kept_codes(), e.kept_scale(), e.levels.clone(), e.axis)
                for e in self._entries}

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

