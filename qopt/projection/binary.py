r"""The binary projection in closed form: :math:`\alpha = \|w\|_1/n`, :math:`z = \mathrm{sign}(w)`.

For :math:`Q = \{\alpha s : s \in \{-1, 1\}^n\}` the best codes at any :math:`\alpha > 0` are
:math:`\mathrm{sign}(w)` and the best scale for them is
:math:`\langle w, \mathrm{sign}\,w\rangle / n = \|w\|_1/n` (Yin et al. 2018, BinaryRelax; the
released code's ``quantize_bw``); sign(0) = +1 (the tie rule). The refit of
:func:`qopt.projection.project.project_rows` is the identity here.

Arithmetic: the sum of :math:`|w|` in the compute dtype (``Tensor.sum``: a cascade sum, about
1e-7 relative in float32; ``torch.linalg.vector_norm(w, 1)`` on CPU sums float32 naively and
errs by ~1e-4 at 3e6 entries, so it is not used). Range: the rows arrive scaled by a power of
two into (-1, 1) (exact), so the sum cannot overflow.
"""

from __future__ import annotations

from torch import Tensor

__all__ = ["binary_scale", "binary_sums"]


def binary_scale(rows: Tensor) -> Tensor:
    r""":math:`\|w\|_1/n` per row of (C, n) ``rows`` in their dtype (no host sync). The caller
    scales the rows into range (:func:`qopt.projection.project.rows_torch`)."""
    return rows.abs().sum(dim=1) / rows.shape[1]


def binary_sums(rows: Tensor) -> Tensor:
    r""":math:`\|w\|_1` per row of (C, n) ``rows`` (cascade sum in their dtype), the numerator of
    the CPU closed form. The one expression both :func:`qopt.projection.project_group` and the
    optimizer's foreach path (:mod:`qopt.optim._project`) use, so that their scales are the same
    bits (``torch._foreach_norm(·, 1)`` sums float32 naively and was up to 2e-4 relative off
    ``torch.mean(w.abs())`` at 3e6 entries). The scale is ``binary_sums(rows) / n``."""
    return rows.abs().sum(dim=1)
