"""Quantizers for the rounding-slack tests: an honest exact projection in each dtype (qopt's own,
torch) and the same projection with one entry moved by one level.

Each docstring says what the verifier must conclude and why.
"""

from __future__ import annotations

import numpy as np
import torch

import qopt
from theory import Uniform


def exact(bits: int):
    """qopt.project onto uniform:``bits`` in the input's dtype (computed in float32 or float64,
    rounded once to the dtype): honest, every value check must pass."""
    qset = Uniform(bits)

    def fn(w: torch.Tensor) -> torch.Tensor:
        return qopt.project(w, qset).q

    return fn


def one_level_off(bits: int):
    """qopt.project onto uniform:``bits``, except that entry 0 is moved by one level, in the
    direction away from w[0] (down at the top level, up at the bottom): still in Q, but its
    squared error exceeds the optimum by ``alpha^2 (1 + 2|t|) >= alpha^2`` (t: w[0]'s offset from
    its level, in levels), far more than rounding explains at small inputs: **optimality** must
    fail, at every bit width and dtype."""
    qset = Uniform(bits)
    k = 2 ** (bits - 1) - 1

    def fn(w: torch.Tensor) -> torch.Tensor:
        p = qopt.project(w, qset)
        a = float(p.scale)
        if a == 0 or w.numel() == 0:
            return p.q
        z = int(qset.levels[int(p.codes.reshape(-1)[0])])
        t = float(w.reshape(-1)[0].double()) / a - z
        step = -1 if (t >= 0 and z > -k) or z == k else 1
        q = p.q.clone().reshape(-1)
        q[0] = torch.tensor((z + step) * a, dtype=torch.float64).to(w.dtype)
        return q.reshape(w.shape)

    return fn


def absmax_int8(w: torch.Tensor) -> torch.Tensor:
    """The plain absmax rule of int8 symmetric per-tensor quantization (torchao's
    choose_qparams_affine + quantize_affine + dequantize_affine with quant range [-127, 127]):
    scale max|w| / 127, codes round(w / scale). In uniform:8, but not the nearest point."""
    s = w.abs().max() / 127
    if s == 0:
        return torch.zeros_like(w)
    return (torch.round(w / s).clamp(-127, 127) * s).to(w.dtype)


def numpy_exact(bits: int):
    """theory.project rounded to the input's numpy dtype: honest."""
    from theory import project

    qset = Uniform(bits)
    return lambda w: np.asarray(project(np.asarray(w, dtype=np.float64), qset).q, dtype=w.dtype)
