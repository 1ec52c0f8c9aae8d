"""A benchmark-only QuantOptimizer whose forward points go through one batched projection call.

``GroupedQuantOptimizer`` is :class:`qopt.QuantOptimizer` with ``_write_forward`` replaced: the
quantized tensors are grouped by (set, axis, dtype, device) and each group is projected by one
:func:`qopt.projection.project_group` call (contract C3) that writes P(w) into the parameters,
warm-started by the previous step's scales and with a reusable workspace; the BinaryRelax blend
follows with foreach ops as in the engine. It measures what the engine's step costs once it
routes its projections through the batched API (that wiring belongs to the engine; until it
lands this adapter is how the benchmarks see it). The accumulated :class:`ProjectionStats` give
the fraction of searched rows whose warm-start certificate held.
"""

from __future__ import annotations

from typing import Any

import torch

import qopt
from qopt.projection import ProjectionStats, Workspace, project_group

__all__ = ["GroupedQuantOptimizer"]


class GroupedQuantOptimizer(qopt.QuantOptimizer):
    """QuantOptimizer with one :func:`project_group` call per group (module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._groups: dict[tuple, dict[str, Any]] = {}
        self.projection_stats = ProjectionStats()
        super().__init__(*args, **kwargs)

    def _group_table(self) -> dict[tuple, dict[str, Any]]:
        table: dict[tuple, dict[str, Any]] = {}
        for e in self._entries:
            key = (e.qset, e.axis, e.param.dtype, e.param.device)
            g = table.setdefault(key, {"entries": [], "ws": Workspace(), "hints": None})
            g["entries"].append(e)
        return table

    @torch.no_grad()
    def _write_forward(self) -> None:
        from qopt.optim import methods as M

        if not self._groups or sum(len(g["entries"]) for g in self._groups.values()) != len(
                self._entries):
            self._groups = self._group_table()
        for (qset, axis, _, _), g in self._groups.items():
            ents = g["entries"]
            res = project_group([e.latent for e in ents], qset, axis,
                                out=[e.param for e in ents], hints=g["hints"],
                                workspace=g["ws"])
            g["hints"] = res.scales
            self.projection_stats = self.projection_stats + res.stats
        if self._params and M.relaxed(self.method, self._sched):
            lam = self._sched["lam"]
            torch._foreach_mul_(self._params, lam)
            torch._foreach_add_(self._params, self._latents)
            torch._foreach_div_(self._params, 1.0 + lam)
