r"""The optimizer's one projection: params <- P_Q(latent) for every entry, result kept.

Every projection of :class:`~qopt.QuantOptimizer` goes through :func:`project_entries` (the step,
construction, ``add_param_group``, ``load_state_dict``); diagnostics, evaluation, ``finalize``,
``quantized_state`` and export read what it kept (scale, codes) instead of projecting again.
Adopting a batched projection API is a change of this file only.

Paths (same minimiser as :func:`qopt.project`, see :mod:`qopt.projection` for the math):

* one-scale ``Binary`` CPU tensors in float32/float64, grouped by dtype:
  :math:`\alpha = \|w\|_1/n` with the numerator of
  :func:`qopt.projection.binary.binary_sums` (the expression ``project_group`` uses, so the
  scale is bitwise ``qopt.project``'s), :math:`q = \alpha\,\mathrm{sign}(w)` with sign(0) = +1
  (the tie rule) as :math:`\alpha(1 - 2[w < 0])` with foreach ops; codes are read off the
  latent's sign when asked. A sum that is not finite (overflow) takes ``project_group``'s
  scaled path. CUDA Binary tensors go through ``project_group`` (its sync-free path);
* every other tensor: one :func:`qopt.projection.project_group` call per (set, axis, dtype,
  device) group (contract C3), which writes :math:`q = \alpha\cdot\text{levels}[codes]` into
  the parameters and returns the scales and codes kept here; warm-started with the previous
  scales (hints that never change a bit of the result), with a workspace per group reused
  across steps. ``Buckets.stats`` accumulates the calls'
  :class:`qopt.projection.ProjectionStats` (rows searched, warm-start certificates held).

No host-device synchronisation happens here on CUDA.
"""

from __future__ import annotations

import torch

from qopt.optim._entries import Entry
from qopt.projection import ProjectionStats, Workspace, project_group
from qopt.projection.binary import binary_sums
from theory.sets import Binary

__all__ = ["Buckets", "project_entries"]


class Buckets:
    """Entries split by projection path (built once per change of the entry list)."""

    def __init__(self, entries: list[Entry]) -> None:
        self.binary: dict[tuple, list[Entry]] = {}
        self.groups: dict[tuple, list[Entry]] = {}
        for e in entries:
            if isinstance(e.qset, Binary) and e.qset.scale is None and e.axis is None \
                    and e.group_size is None \
                    and e.param.dtype in (torch.float32, torch.float64) \
                    and e.param.device.type == "cpu":
                self.binary.setdefault((e.param.device, e.param.dtype), []).append(e)
            else:
                key = (e.qset, e.axis, e.param.dtype, e.param.device, e.group_size)
                self.groups.setdefault(key, []).append(e)
        self.sizes = {k: [float(e.param.numel()) for e in v] for k, v in self.binary.items()}
        self.workspaces = {k: Workspace() for k in self.groups}
        self.stats = ProjectionStats()


@torch.no_grad()
def project_entries(b: Buckets) -> None:
    """params <- P(latent) for every entry of ``b``; keeps scale and codes on the entries."""
    for ents in b.binary.values():
        ps, ws = [e.param for e in ents], [e.latent for e in ents]
        # the closed form's numerator exactly as project_group computes it (same bits)
        sums = [binary_sums(w.reshape(1, -1))[0] for w in ws]
        if not bool(torch.isfinite(torch.stack(sums)).all()):  # CPU: a free read
            _project_group(ents, ents[0].qset, None, b, key=None)  # overflow/NaN: scaled path
            continue
        alphas = [s / w.numel() for s, w in zip(sums, ws)]
        # q = alpha (1 - 2 [w < 0]): -alpha where w < 0, else +alpha (0 and -0.0 give +alpha,
        # the tie rule), as project_group's _signed
        for p, w in zip(ps, ws):
            torch.lt(w, 0, out=p)
        torch._foreach_mul_(ps, -2.0)
        torch._foreach_add_(ps, 1.0)
        torch._foreach_mul_(ps, alphas)
        for e, a in zip(ents, alphas):
            e.scale, e.codes, e.lazy_sign = a.reshape(1), None, True
    for key, ents in b.groups.items():
        _project_group(ents, key[0], key[1], b, key)


def _project_group(ents: list[Entry], qset, axis, b: Buckets, key: tuple | None) -> None:
    """One project_group call for ``ents`` (warm-started, the group's workspace; ``key[4]``
    the group size of block-wise scales)."""
    g = key[4] if key is not None else None
    hints = None
    if any(e.hint is not None for e in ents):  # NaN: no warm start for that tensor
        hints = [e.hint if e.hint is not None else torch.tensor(float("nan"))
                 for e in ents]
    res = project_group([e.latent for e in ents], qset, axis,
                        out=[e.param for e in ents], hints=hints,
                        workspace=b.workspaces.get(key) if key is not None else None,
                        check=False, **({"group_size": g} if g is not None else {}))
    zps = getattr(res, "zero_points", None) or [None] * len(ents)
    for e, scale, codes, zp in zip(ents, res.scales, res.codes, zps):
        e.hint = scale
        e.scale, e.codes, e.lazy_sign = scale.reshape(-1), codes, False
        e.zero_point = None if zp is None else zp.reshape(-1)
    b.stats = b.stats + res.stats
