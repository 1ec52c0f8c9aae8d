r"""UniQ's quantizers as ``torch.autograd.Function``\ s with the LSQ step gradient
(``docs/math/uniq.md``).

M = 2^b − 1, step Δ > 0 (per tensor, or per output channel for weights: Δ has shape (C,) and
broadcasts along axis 0).

**Weights** (symmetric mid-rise, 2^b levels :math:`\pm\Delta/2,\dots,\pm M\Delta/2`; b = 1 is
sign binarization with scale Δ/2) (released UniQ code, ``UniQQuantizer.forward``):

.. math::

    y = w/\Delta + M/2,\quad k = \min(\max(\mathrm{round}(y), 0), M),\quad
    \hat w = \Delta\,(k - M/2).

Backward (derived here from UniQ's ``round_pass``/``grad_scale`` autograd graph;
``docs/math/uniq.md#gradients``):
:math:`\partial\hat w/\partial w = 1\{0 \le y \le M\}`;
:math:`\partial\hat w/\partial\Delta = \mathrm{round}(y) - y` inside, :math:`+M/2` above,
:math:`-M/2` below; the Δ-gradient is multiplied by
:math:`g = 1/\sqrt{N\,Q_p}`, :math:`Q_p = \max(2^{b-1}-1, 1)`, N = numel(W) per tensor and
**numel(W)/C per output channel** (LSQ paper; UniQ ``kernel_wise``; a common LSQ reimplementation
wrongly keeps numel(W); ``docs/math/uniq.md#gradient-scale``).

**Activations** (unsigned, after a ReLU): :math:`\hat a = \Delta\min(\max(\mathrm{round}(x/\Delta),
0), M)`, :math:`\partial\hat a/\partial x = 1\{0 \le x/\Delta \le M\}`,
:math:`\partial\hat a/\partial\Delta = \mathrm{round}(x/\Delta) - x/\Delta` inside, M above, 0
below; :math:`g = 1/\sqrt{N M}` with N = numel(x) *including the batch* (UniQ code).

**Ties.** ``torch.round`` rounds half to even, as the released code: a weight exactly on a
decision threshold goes to the level with even k (for b = 1, w = 0 gives −Δ/2). This differs from
``theory.project``'s rule (ties away from zero; Binary maps 0 to +α); ties have probability zero
for continuous weights, and :mod:`theory.proxies` uses the same half-to-even rule (``np.rint``).

**Exactness.** ŵ is computed as Δ·(k − M/2) (one rounding), not UniQ's kΔ − ΔM/2, so that
``scale * levels[codes]`` of the export reproduces it bitwise.

Δ is clamped from below by ``min_step`` in the forward (the gradient passes straight through),
so that a learned Δ that SGD drives to ≤ 0 cannot produce inf/NaN.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["uniq_activation_quantize", "uniq_weight_codes", "uniq_weight_quantize"]


def _broadcast_step(delta: torch.Tensor, ref: torch.Tensor, min_step: float) -> torch.Tensor:
    d = delta.clamp_min(min_step).to(ref.dtype)
    if d.dim() == 0:
        return d
    return d.reshape((-1,) + (1,) * (ref.dim() - 1))


def uniq_weight_codes(w: torch.Tensor, delta: torch.Tensor, bits: int,
                      min_step: float = 1e-12) -> tuple[torch.Tensor, torch.Tensor]:
    """(k, Δ) of the weight quantizer: float codes k ∈ {0..M} and the broadcast step (w's dtype),
    so that ŵ = Δ·(k − M/2) (module docstring)."""
    big_m = 2 ** bits - 1
    d = _broadcast_step(delta, w, min_step)
    k = torch.round(w / d + big_m / 2.0).clamp_(0.0, float(big_m))
    return k, d


class _UniQWeightFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, w: torch.Tensor, delta: torch.Tensor, bits: int, g: float,
                min_step: float) -> torch.Tensor:
        k, d = uniq_weight_codes(w, delta, bits, min_step)
        ctx.save_for_backward(w, d)
        ctx.cfg = (bits, g, delta.shape, delta.dtype)
        return k.sub_((2 ** bits - 1) / 2.0).mul_(d)

    @staticmethod
    def backward(ctx: Any, gout: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        w, d = ctx.saved_tensors
        bits, g, d_shape, d_dtype = ctx.cfg
        big_m = 2 ** bits - 1
        y = w / d + big_m / 2.0
        inside = (y >= 0) & (y <= big_m)
        gw = gout * inside if ctx.needs_input_grad[0] else None
        gd = None
        if ctx.needs_input_grad[1]:
            half = torch.full_like(y, big_m / 2.0)
            dq = torch.where(inside, torch.round(y) - y, torch.where(y > big_m, half, -half))
            prod = gout * dq
            dims = tuple(range(prod.dim())) if len(d_shape) == 0 else tuple(range(1, prod.dim()))
            gd = (torch.sum(prod, dim=dims, dtype=d_dtype) * g).reshape(d_shape)
        return gw, gd, None, None, None


class _UniQActivationFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, delta: torch.Tensor, bits: int, g: float,
                min_step: float) -> torch.Tensor:
        big_m = 2 ** bits - 1
        d = _broadcast_step(delta.reshape(()), x, min_step)
        ctx.save_for_backward(x, d)
        ctx.cfg = (bits, g, delta.shape, delta.dtype)
        return torch.round(x / d).clamp_(0.0, float(big_m)).mul_(d)

    @staticmethod
    def backward(ctx: Any, gout: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, d = ctx.saved_tensors
        bits, g, d_shape, d_dtype = ctx.cfg
        big_m = 2 ** bits - 1
        y = x / d
        inside = (y >= 0) & (y <= big_m)
        gx = gout * inside if ctx.needs_input_grad[0] else None
        gd = None
        if ctx.needs_input_grad[1]:
            dq = torch.where(inside, torch.round(y) - y,
                             (y > big_m).to(y.dtype) * float(big_m))
            gd = (torch.sum(gout * dq, dtype=d_dtype) * g).reshape(d_shape)
        return gx, gd, None, None, None


def uniq_weight_quantize(w: torch.Tensor, delta: torch.Tensor, bits: int, g: float = 1.0,
                         min_step: float = 1e-12) -> torch.Tensor:
    r"""ŵ = Δ(k − M/2) with the LSQ backward scaled by ``g`` (module docstring).

    Args:
        w: weight tensor; per-channel steps broadcast along its axis 0.
        delta: Δ, 0-d (per tensor) or shape (C,) with C = ``w.shape[0]``.
        bits: b ≥ 1.
        g: gradient scale of Δ (1 = the raw LSQ derivative).
        min_step: forward lower bound on Δ.
    """
    return _UniQWeightFn.apply(w, delta, int(bits), float(g), float(min_step))


def uniq_activation_quantize(x: torch.Tensor, delta: torch.Tensor, bits: int, g: float = 1.0,
                             min_step: float = 1e-12) -> torch.Tensor:
    r"""â = Δ·clip(round(x/Δ), 0, M) with the LSQ backward scaled by ``g`` (module docstring);
    ``delta`` is a one-element tensor."""
    return _UniQActivationFn.apply(x, delta, int(bits), float(g), float(min_step))
