r"""The optimizer's one projection: params <- P_Q(latent) for every entry, result kept.

Every projection of :class:`~qopt.QuantOptimizer` goes through :func:`project_entries` (the step,
construction, ``add_param_group``, ``load_state_dict``); diagnostics, evaluation, ``finalize``,
``quantized_state`` and export read what it kept (scale, codes) instead of projecting again.
Adopting a batched projection API is a change of this file only.

Paths (same minimiser as :func:`qopt.project`, see :mod:`qopt.projection` for the math):

* one-scale ``Binary`` tensors in float32/float64, grouped by (device, dtype): with foreach ops,
  :math:`\alpha = \|w\|_1/n` (``_foreach_norm(·, 1)``), :math:`q = \alpha\,\mathrm{sign}(w)` with
  sign(0) = +1 (the tie rule); codes are read off the latent's sign when asked;
* every other tensor: :func:`qopt.projection.project_rows` (warm-started with the previous
  scale, a hint that never changes the minimiser), :math:`q = \alpha\cdot\text{levels}[codes]`.

No host-device synchronisation happens here on CUDA.
"""

from __future__ import annotations

import torch

from qopt.optim._entries import Entry, code_dtype
from qopt.projection import compute_dtype, from_rows, project_rows, to_rows
from theory.sets import Binary

__all__ = ["Buckets", "project_entries"]


class Buckets:
    """Entries split by projection path (built once per change of the entry list)."""

    def __init__(self, entries: list[Entry]) -> None:
        self.binary: dict[tuple, list[Entry]] = {}
        self.other: list[Entry] = []
        for e in entries:
            if isinstance(e.qset, Binary) and e.qset.scale is None and e.axis is None \
                    and e.param.dtype in (torch.float32, torch.float64):
                self.binary.setdefault((e.param.device, e.param.dtype), []).append(e)
            else:
                self.other.append(e)
        self.sizes = {k: [float(e.param.numel()) for e in v] for k, v in self.binary.items()}


@torch.no_grad()
def project_entries(b: Buckets) -> None:
    """params <- P(latent) for every entry of ``b``; keeps scale and codes on the entries."""
    for key, ents in b.binary.items():
        ps, ws = [e.param for e in ents], [e.latent for e in ents]
        alphas = torch._foreach_div(torch._foreach_norm(ws, 1), b.sizes[key])
        torch._foreach_copy_(ps, ws)
        torch._foreach_sign_(ps)  # -1, 0, +1; sign(0) must be +1 (tie rule):
        torch._foreach_mul_(ps, 2.0)
        torch._foreach_add_(ps, 1.0)
        torch._foreach_clamp_max_(ps, 1.0)
        torch._foreach_mul_(ps, alphas)
        for e, a in zip(ents, alphas):
            e.scale, e.codes, e.lazy_sign = a.reshape(1), None, True
    for e in b.other:
        cd = compute_dtype(e.latent.dtype)
        rows = to_rows(e.latent, e.axis, cd)
        hint = None if e.hint is None else e.hint.reshape(-1).to(cd)
        alpha, codes = project_rows(rows, e.qset, hint)
        e.param.copy_(from_rows(alpha[:, None] * e.levels[codes], e.latent.shape, e.axis))
        e.hint = alpha if e.axis is not None else alpha[0]
        e.scale, e.lazy_sign = alpha, False
        e.codes = from_rows(codes, e.latent.shape, e.axis).to(code_dtype(e.levels.numel()))
