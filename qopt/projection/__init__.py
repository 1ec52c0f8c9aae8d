r"""Exact Euclidean projection onto quantization sets, in PyTorch (CPU and CUDA).

.. math::

    P_Q(w) \in \arg\min_{\alpha \ge 0,\; z \in L^n} \|w - \alpha z\|_2^2,
    \qquad Q = \{\alpha z : z \in L^n\}

jointly over the scale :math:`\alpha` (free-scale sets, a cone) and the codes :math:`z`, or over the
codes alone (fixed scale). A second, independent implementation of
:func:`theory.projection.project` (it imports only the set classes, the shared vocabulary); it
returns the *same minimiser*, tie rule included, and the tests compare the two.

Public API:

* :func:`project` ``(w, qset, axis=None, *, check=True) -> TorchProjection(q, scale, codes,
  dist2)``: one tensor, validated.
* :func:`project_group` (contract C3, the optimizer's hot path), documented below.
* :func:`certify` / :class:`Certificate`: a checkable record of one projection's certified search
  (:mod:`qopt.projection.certificate`), replayed by :mod:`proofs_check.certificate` and
  ``qopt verify certificate FILE``.

**The hot path (contract C3).** One call per (set, axis, dtype, device) group of tensors::

    res = project_group(latents, qset, axis, out=params, hints=prev.scales, workspace=ws)
    res.scales[t]   # 0-d (axis None) or (C,): the scale(s) of tensor t, compute dtype
    res.codes[t]    # int8 (<= 127 levels): params[t] == scale * qset.levels[codes]
    res.stats       # ProjectionStats(rows, searched, certified, extracted, fallback)

* writes :math:`P_Q(w_t)` into ``out[t]`` and returns the scales **and** the codes, so that
  diagnostics, evaluation and export need no second projection;
* ``hints`` (the previous call's scales) warm-start the certified search; they change the work,
  never a bit of the result;
* ``workspace`` (:class:`Workspace`) keeps the CPU buffers between steps (a fresh large array
  costs page faults on first touch; about 20 bytes per weight); results never alias it;
* CPU: all rows of the group go through each stage once (flat layout): one bucket summary, the
  certified search (:mod:`qopt.projection.pruned`), codes and refit from the summary
  (:mod:`qopt.projection.finish`). The host reads data-dependent sizes there, which costs
  nothing on CPU;
* CUDA: no host-device synchronisation: per tensor, the sync-free sort-based paths (top-t scan,
  full breakpoint sweep), launched back to back (the certified search would need the window
  size on the host).

The result of :func:`project_group` is bitwise that of :func:`project` on each tensor (same code
path; a row's arithmetic never depends on the other rows of the group).

Modules (one concept each): :mod:`~qopt.projection.tables` (levels, midpoints, events),
:mod:`~qopt.projection.codes` (nearest codes, tie rule, row layout),
:mod:`~qopt.projection.binary`, :mod:`~qopt.projection.ternary`, :mod:`~qopt.projection.sweep`
(closed form, top-t scan, full sweep), :mod:`~qopt.projection.summary` (bucket summary),
:mod:`~qopt.projection.bounds` (the certificate's bound), :mod:`~qopt.projection.window` (exact
window scan, canonical scale), :mod:`~qopt.projection.pruned` (the certified search),
:mod:`~qopt.projection.finish` and :mod:`~qopt.projection.flat` (codes, refit, values),
:mod:`~qopt.projection.batched` (the group API), :mod:`~qopt.projection.certificate`,
:mod:`~qopt.projection.project` (``project``).

**Tie rule** (as in theory): a value exactly on a midpoint goes to the level farther from zero, 0
on the midpoint 0 goes to the positive level (``Binary`` maps 0 to +α); among equal sweep values
the first met from :math:`\alpha = +\infty` downward wins (the largest scale).

Precision: float64 inputs are computed in float64; float32, bfloat16 and float16 inputs in
float32, with every sum of the scale search and the refit accumulated in float64. Any finite
input is handled (rows are scaled by powers of two where needed: see
:mod:`qopt.projection.project`).
"""

from qopt.projection.batched import GroupProjection, ProjectionStats, project_group
from qopt.projection.certificate import Certificate, certify
from qopt.projection.codes import COMPARE_MAX, from_rows, nearest_codes, to_rows
from qopt.projection.project import (
    TorchProjection,
    check_qset,
    project,
    project_rows,
    quantize_,
)
from qopt.projection.project import check_axis as _check_axis
from qopt.projection.tables import _tables, compute_dtype, tables
from qopt.projection.workspace import Workspace

__all__ = ["TorchProjection", "project", "project_rows", "nearest_codes", "quantize_",
           "compute_dtype", "to_rows", "from_rows", "tables", "check_qset", "COMPARE_MAX",
           "project_group", "GroupProjection", "ProjectionStats", "Workspace", "Certificate",
           "certify",
           "_check_axis", "_tables"]
