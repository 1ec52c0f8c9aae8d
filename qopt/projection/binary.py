r"""The binary projection in closed form: :math:`\alpha = \|w\|_1/n`, :math:`z = \mathrm{sign}(w)`.

For :math:`Q = \{\alpha s : s \in \{-1, 1\}^n\}` the best codes at any :math:`\alpha > 0` are
:math:`\mathrm{sign}(w)` and the best scale for them is
:math:`\langle w, \mathrm{sign}\,w\rangle / n = \|w\|_1/n` (Yin et al. 2018, BinaryRelax; the
released code's ``quantize_bw``); sign(0) = +1 (the tie rule). The refit of
:func:`qopt.projection.project.project_rows` is the identity here.

Arithmetic: the sum of :math:`|w|` in the compute dtype (``Tensor.sum``: a cascade sum, about
1e-7 relative in float32; ``torch.linalg.vector_norm(w, 1)`` on CPU sums float32 naively and
errs by ~1e-4 at 3e6 entries, so it is not used). Range: a sum that overflows (entries near the
largest float) is recomputed on the rows multiplied by a power of two, which is exact; subnormal
entries need nothing (sums of subnormals are exact).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["binary_scale"]


def binary_scale(rows: Tensor) -> Tensor:
    """:math:`\\|w\\|_1/n` per row of (C, n) ``rows`` in their dtype (no host sync on CUDA)."""
    n = rows.shape[1]
    s = rows.abs().sum(dim=1)
    if rows.device.type == "cpu":
        if bool(torch.isfinite(s).all()):  # a host read, free on CPU
            return s / n
    # overflowing sums: scale each row by 2^-e (exact), sum, divide, scale back
    e = torch.frexp(rows.abs().amax(dim=1)).exponent
    safe = torch.ldexp(rows.abs(), -e[:, None].to(rows.dtype)).sum(dim=1) / n
    return torch.where(torch.isfinite(s), s / n, torch.ldexp(safe, e.to(rows.dtype)))
