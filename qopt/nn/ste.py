r"""Quantized ReLU with straight-through (coarse) gradients, as one ``torch.autograd.Function``.

Forward (M = 2^b − 1, one step α > 0 per tensor):

* ``"ceil"`` — BCGD's quantizer (released BCGD code, penhunt/full-quantization-DNN
  ``nets/quant_uni_type.py`` ``QtUniFunction.forward``, and J. Xin's SIAM News article;
  ``docs/math/activation-quantizers.md#bcgd-quantizer``):

  .. math::

      \sigma(x,\alpha) = \alpha\,\min\big(\max(\lceil x/\alpha\rceil, 0), M\big)
      = \begin{cases} 0 & x \le 0\\ k\alpha & (k-1)\alpha < x \le k\alpha,\ k < M\\
        M\alpha & x > (M-1)\alpha \end{cases}

* ``"round"`` — round to nearest, :math:`\alpha\,\min(\max(\mathrm{round}(x/\alpha), 0), M)`
  (ties half-to-even, ``torch.round``; the unsigned quantizer of UniQ/LSQ,
  ``docs/math/uniq.md#activation-quantizer``).

Backward, x (the STE; BCGD ``bfun``; the three STEs of the STE paper, Yin et al. 2019b;
``docs/math/activation-quantizers.md#stes``):

===================  ============================================  ============
``ste``              :math:`\partial\sigma/\partial x \approx`      BCGD ``bfun``
===================  ============================================  ============
``"identity"``       :math:`1`                                      ``idnty``
``"relu"``           :math:`1\{x > 0\}`                             ``relu``
``"clipped_relu"``   :math:`1\{0 < x \le M\alpha\}`                 ``inplt``
===================  ============================================  ============

Backward, α (``alpha_grad``; BCGD ``gd_type``; per element, then
:math:`\partial L/\partial\alpha = r\sum_i g_i\,d_i`, optionally clamped to :math:`[-c, c]`):

* ``"ae"``: :math:`d = \min(\max(q(x/\alpha), 0), M)`, q = ceil or round: the true a.e.
  derivative of the forward (codes are locally constant);
* ``"mean"``: :math:`d = (M+1)/2 = 2^{b-1}` on :math:`(0, M\alpha]`, M above, 0 below;
* ``"min"``: 1 on :math:`(0, M\alpha]`, M above, 0 below;
* ``"pact"``: M above :math:`M\alpha`, 0 elsewhere;
* ``"lsq"``: :math:`d = q(x/\alpha) - x/\alpha` on :math:`(0, M\alpha]`, M above, 0 below (the
  LSQ/UniQ straight-through-round derivative, derived here from UniQ's ``round_pass``;
  ``docs/math/uniq.md#gradients``).

``ae``/``mean``/``min``/``pact`` are the released BCGD code (``QtUniFunction.backward``); there the
sum is multiplied by ``rate_factor`` r = 0.01 and clamped to [−1, 1] (``alpha_grad_rate=0.01,
alpha_grad_clip=1.0`` here). α is clamped from below by ``alpha_min`` (BCGD: 1e-3) in the forward
only; the gradient passes to α straight through the clamp (as BCGD's in-place clamp).
"""

from __future__ import annotations

from typing import Any

import torch

from theory.proxies import PROXIES

__all__ = ["ALPHA_GRADS", "FORWARDS", "STES", "quant_relu"]

FORWARDS: tuple[str, ...] = ("ceil", "round")
#: x-gradient proxies: the one list of STE names (:data:`theory.proxies.PROXIES`).
STES: tuple[str, ...] = PROXIES
ALPHA_GRADS: tuple[str, ...] = ("mean", "ae", "min", "pact", "lsq")


def _codes(y: torch.Tensor, ceil: bool, big_m: int) -> torch.Tensor:
    q = torch.ceil(y) if ceil else torch.round(y)
    return q.clamp_(0.0, float(big_m))


class _QuantReLUFn(torch.autograd.Function):
    """Vectorised forward/backward of :func:`quant_relu` (see the module docstring)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, alpha: torch.Tensor, big_m: int, ceil: bool,
                ste: str, alpha_grad: str | None, rate: float, clip: float | None,
                alpha_min: float) -> torch.Tensor:
        a = alpha.clamp_min(alpha_min).to(x.dtype).reshape(())
        out = _codes(x / a, ceil, big_m).mul_(a)
        ctx.save_for_backward(x, a)
        ctx.cfg = (big_m, ceil, ste, alpha_grad, rate, clip, alpha.shape, alpha.dtype)
        return out

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, a = ctx.saved_tensors
        big_m, ceil, ste, alpha_grad, rate, clip, a_shape, a_dtype = ctx.cfg
        top = a * big_m
        gx = ga = None
        if ctx.needs_input_grad[0]:
            if ste == "identity":
                gx = g
            elif ste == "relu":
                gx = g * (x > 0)
            else:
                gx = g * ((x > 0) & (x <= top))
        if ctx.needs_input_grad[1] and alpha_grad is not None:
            above = x > top
            if alpha_grad == "ae":
                d = _codes(x / a, ceil, big_m)
            elif alpha_grad == "pact":
                d = above.to(g.dtype) * big_m
            else:
                inside = (x > 0) & ~above
                if alpha_grad == "lsq":
                    y = x / a
                    inner = (torch.ceil(y) if ceil else torch.round(y)) - y
                else:
                    inner = torch.full_like(g, (big_m + 1) / 2.0 if alpha_grad == "mean" else 1.0)
                d = torch.where(above, torch.full_like(g, float(big_m)),
                                torch.where(inside, inner, torch.zeros_like(g)))
            ga = torch.sum(g * d, dtype=a_dtype) * rate
            if clip is not None:
                ga = ga.clamp(-clip, clip)
            ga = ga.reshape(a_shape)
        return gx, ga, None, None, None, None, None, None, None


def quant_relu(x: torch.Tensor, alpha: torch.Tensor, bits: int, forward: str = "ceil",
               ste: str = "clipped_relu", alpha_grad: str | None = "mean",
               alpha_grad_rate: float | None = None, alpha_grad_clip: float | None = None,
               alpha_min: float = 1e-3) -> torch.Tensor:
    r"""b-bit quantized ReLU of ``x`` with step ``alpha`` and a chosen coarse gradient.

    Math and sources: module docstring. Arguments are trusted (validated by
    :class:`qopt.nn.QuantReLU`), except for cheap type checks.

    Args:
        x: input tensor (any shape, floating dtype).
        alpha: the step α, a one-element floating tensor (a Parameter to learn it).
        bits: b, M = 2^b − 1 positive levels.
        forward: ``"ceil"`` (BCGD) or ``"round"``.
        ste: ``"clipped_relu"``, ``"relu"`` or ``"identity"``.
        alpha_grad: ``"mean"``, ``"ae"``, ``"min"``, ``"pact"``, ``"lsq"``, or None (α gets no
            gradient).
        alpha_grad_rate: r multiplying the summed α-gradient; None means 1, except for ``"lsq"``
            where it is LSQ's gradient scale :math:`1/\sqrt{N M}`, N = ``x.numel()`` (batch
            included, as UniQ's activations).
        alpha_grad_clip: c > 0 to clamp the α-gradient to [−c, c] (BCGD: 1.0), or None.
        alpha_min: forward lower bound on α (BCGD: 1e-3).

    Returns:
        σ(x, α), same shape and dtype as ``x``.
    """
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got {type(x).__name__}")
    if not isinstance(alpha, torch.Tensor) or alpha.numel() != 1:
        raise TypeError("alpha must be a one-element tensor")
    big_m = 2 ** int(bits) - 1
    if alpha_grad_rate is None:
        alpha_grad_rate = (1.0 / (max(x.numel(), 1) * big_m) ** 0.5
                           if alpha_grad == "lsq" else 1.0)
    return _QuantReLUFn.apply(x, alpha, big_m, forward == "ceil", ste, alpha_grad,
                              float(alpha_grad_rate), alpha_grad_clip, float(alpha_min))
