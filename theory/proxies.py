r"""Straight-through-estimator (STE) proxies and activation quantizers, in float64 numpy.

**The binary step and its three STE proxies** (the STE paper, Yin et al. 2019b, read in its ICLR
2019 submission, and the released BCGD code's ``bfun`` option;
``docs/math/activation-quantizers.md#stes``). The forward is :math:`\sigma(x) = 1\{x > 0\}`;
backward replaces :math:`\sigma'` (zero a.e.) by the derivative :math:`\mu'` of a proxy :math:`\mu`:

=================  =============================  ==============================  ============
name               :math:`\mu(x)`                 :math:`\mu'(x)`                 BCGD ``bfun``
=================  =============================  ==============================  ============
``identity``       :math:`x`                      :math:`1`                       ``idnty``
``relu``           :math:`\max(x, 0)`             :math:`1\{x > 0\}`              ``relu``
``clipped_relu``   :math:`\min(\max(x,0), c)`     :math:`1\{0 < x \le c\}`        ``inplt``
=================  =============================  ==============================  ============

with clip level :math:`c = 1` in the two-layer model (``docs/math/two-layer-model.md#model``) and
:math:`c = (2^b-1)\alpha` in BCGD. The boundary convention :math:`x = c \Rightarrow \mu' = 1` is the
BCGD code's (``input > a*level`` is zeroed); it is a null set for every Gaussian expectation.

**BCGD b-bit quantized ReLU** (released BCGD code, penhunt/full-quantization-DNN
``nets/quant_uni_type.py`` ``QtUniFunction``, and J. Xin's SIAM News article;
``docs/math/activation-quantizers.md#bcgd-quantizer``), a *ceil*-type quantizer, M = 2^b - 1:

.. math::

    \sigma(x,\alpha) = \begin{cases} 0 & x \le 0 \\ k\alpha & (k-1)\alpha < x \le k\alpha,\;
        k = 1..M-1 \\ M\alpha & x > (M-1)\alpha \end{cases}

Its α-gradient variants (``gd_type`` in the code), each as a function of x:

* ``ae``: the true a.e. derivative :math:`\partial\sigma/\partial\alpha = \lceil x/\alpha\rceil`
  on :math:`(0, (M-1)\alpha]`, M above, 0 below;
* ``mean``: :math:`(M+1)/2 = 2^{b-1}` on :math:`(0, M\alpha]`, M above (the mean of k over 1..M);
* ``min``: 1 on :math:`(0, M\alpha]`, M above;
* ``pact``: M above :math:`M\alpha`, 0 elsewhere.

**Round-to-nearest uniform quantizers** (released UniQ code, phuocphn/uniq ``quantizer/uniq.py``;
``docs/math/uniq.md#activation-quantizer``, ``docs/math/uniq.md#weight-quantizer``), step Δ:

* unsigned (activations): :math:`\hat a = \Delta\,\mathrm{round}(\mathrm{clip}(x/\Delta, 0, M))`,
  :math:`\partial\hat a/\partial x = 1\{0 \le x \le M\Delta\}`,
  :math:`\partial\hat a/\partial\Delta = \mathrm{round}(x/\Delta) - x/\Delta` inside, M above,
  0 below;
* symmetric mid-rise (weights): :math:`\hat w = \Delta\,\mathrm{round}(\mathrm{clip}(w/\Delta +
  M/2, 0, M)) - \Delta M/2` (2^b levels :math:`\pm\Delta/2, \dots, \pm M\Delta/2`),
  :math:`\partial\hat w/\partial w = 1` inside, :math:`\partial\hat w/\partial\Delta =
  \mathrm{round}(y) - y` inside (y = w/Δ + M/2), :math:`\pm M/2` when clipped high/low.

Rounding is half-to-even (``np.rint``), as ``torch.round`` in the released code. The gradient
formulas are derived here from the autograd graph of ``round_pass`` (straight-through round); the
``grad_scale`` factor g of UniQ is *not* included (it multiplies the Δ-gradient by a constant).
"""

from __future__ import annotations

import numpy as np

from theory._validate import as_float_array, check_int, check_positive_scalar
from theory.sets import MAX_BITS

__all__ = [
    "ALPHA_GRADIENTS",
    "PROXIES",
    "binary_step",
    "check_proxy",
    "proxy_derivative",
    "proxy_value",
    "quantized_relu",
    "quantized_relu_grad_alpha",
    "quantized_relu_grad_x",
    "symmetric_midrise",
    "symmetric_midrise_grads",
    "uniform_round",
    "uniform_round_grads",
]

PROXIES: tuple[str, ...] = ("identity", "relu", "clipped_relu")
ALPHA_GRADIENTS: tuple[str, ...] = ("mean", "ae", "min", "pact")


def check_proxy(proxy: object, name: str = "proxy") -> str:
    """Return ``proxy`` if it is one of :data:`PROXIES`; else raise ``ValueError``/``TypeError``."""
    if not isinstance(proxy, str):
        raise TypeError(f"{name} must be a str, one of {PROXIES}, got {type(proxy).__name__}")
    if proxy not in PROXIES:
        raise ValueError(f"{name} must be one of {PROXIES}, got {proxy!r}")
    return proxy


def _levels(bits: object) -> int:
    return 2 ** check_int(bits, "bits", 1, MAX_BITS) - 1


def binary_step(x: np.ndarray) -> np.ndarray:
    r"""The binary activation :math:`\sigma(x) = 1\{x > 0\}` (float64; σ(0) = 0). Source: the STE
    paper (Yin et al. 2019b; ``docs/math/two-layer-model.md#model``)."""
    x = as_float_array(x, "x", allow_empty=True)
    return (x > 0).astype(np.float64)


def proxy_value(x: np.ndarray, proxy: str, clip: float = 1.0) -> np.ndarray:
    r"""The proxy function :math:`\mu(x)`: ``identity`` x, ``relu`` max(x,0), ``clipped_relu``
    min(max(x,0), clip). Source: the STE paper (Yin et al. 2019b;
    ``docs/math/activation-quantizers.md#stes``)."""
    x = as_float_array(x, "x", allow_empty=True).astype(np.float64, copy=False)
    check_proxy(proxy)
    clip = check_positive_scalar(clip, "clip")
    if proxy == "identity":
        return x.copy()
    if proxy == "relu":
        return np.maximum(x, 0.0)
    return np.clip(x, 0.0, clip)


def proxy_derivative(x: np.ndarray, proxy: str, clip: float = 1.0) -> np.ndarray:
    r"""The STE backward factor :math:`\mu'(x)`: ``identity`` 1, ``relu`` 1{x>0},
    ``clipped_relu`` 1{0 < x <= clip} (released BCGD code ``bfun`` = idnty / relu / inplt)."""
    x = as_float_array(x, "x", allow_empty=True)
    check_proxy(proxy)
    clip = check_positive_scalar(clip, "clip")
    if proxy == "identity":
        return np.ones(x.shape, dtype=np.float64)
    if proxy == "relu":
        return (x > 0).astype(np.float64)
    return ((x > 0) & (x <= clip)).astype(np.float64)


def quantized_relu(x: np.ndarray, alpha: float, bits: int) -> np.ndarray:
    r"""BCGD's ceil-type b-bit quantized ReLU :math:`\sigma(x,\alpha)` (released BCGD code;
    ``docs/math/activation-quantizers.md#bcgd-quantizer``):
    0 for x <= 0, :math:`\lceil x/\alpha\rceil\alpha` on :math:`(0,(M-1)\alpha]`, Mα above."""
    x = as_float_array(x, "x", allow_empty=True).astype(np.float64, copy=False)
    alpha = check_positive_scalar(alpha, "alpha")
    big_m = _levels(bits)
    k = np.clip(np.ceil(x / alpha), 0.0, float(big_m))
    return np.where(x > (big_m - 1) * alpha, big_m * alpha, k * alpha)


def quantized_relu_grad_x(x: np.ndarray, alpha: float, bits: int,
                          proxy: str = "clipped_relu") -> np.ndarray:
    r"""STE for :math:`\partial\sigma(x,\alpha)/\partial x`: the proxy derivative with clip level
    :math:`M\alpha` (default ``clipped_relu`` = the released BCGD code's
    ``inplt``)."""
    alpha = check_positive_scalar(alpha, "alpha")
    return proxy_derivative(x, proxy, clip=_levels(bits) * alpha)


def quantized_relu_grad_alpha(x: np.ndarray, alpha: float, bits: int,
                              variant: str = "mean") -> np.ndarray:
    r"""Per-entry :math:`\partial\sigma(x,\alpha)/\partial\alpha` surrogate of BCGD (``gd_type``,
    released BCGD code ``QtUniFunction.backward``;
    ``docs/math/activation-quantizers.md#alpha-gradients``); see the module docstring for the four
    variants. ``ae`` is the exact a.e. derivative (checked by finite differences in the tests)."""
    x = as_float_array(x, "x", allow_empty=True).astype(np.float64, copy=False)
    alpha = check_positive_scalar(alpha, "alpha")
    big_m = _levels(bits)
    if not isinstance(variant, str) or variant not in ALPHA_GRADIENTS:
        raise ValueError(f"variant must be one of {ALPHA_GRADIENTS}, got {variant!r}")
    above = x > big_m * alpha
    inside = (x > 0) & ~above
    if variant == "ae":
        k = np.clip(np.ceil(x / alpha), 0.0, float(big_m))
        return np.where(x > (big_m - 1) * alpha, float(big_m), k)
    if variant == "pact":
        return np.where(above, float(big_m), 0.0)
    inner = (big_m + 1) / 2.0 if variant == "mean" else 1.0
    return np.where(above, float(big_m), np.where(inside, inner, 0.0))


def uniform_round(x: np.ndarray, step: float, bits: int) -> np.ndarray:
    r"""Unsigned round-to-nearest quantizer
    :math:`\Delta\,\mathrm{rint}(\mathrm{clip}(x/\Delta,0,M))`
    with levels {0, Δ, ..., MΔ} (UniQ activations, released UniQ code;
    ``docs/math/uniq.md#activation-quantizer``)."""
    x = as_float_array(x, "x", allow_empty=True).astype(np.float64, copy=False)
    step = check_positive_scalar(step, "step")
    big_m = _levels(bits)
    return step * np.rint(np.clip(x / step, 0.0, float(big_m)))


def uniform_round_grads(x: np.ndarray, step: float, bits: int) -> tuple[np.ndarray, np.ndarray]:
    r"""(∂â/∂x, ∂â/∂Δ) of :func:`uniform_round` through the straight-through round: ∂â/∂x =
    1{0 <= x/Δ <= M}; ∂â/∂Δ = rint(x/Δ) - x/Δ inside, M above, 0 below (derived here from the
    autograd graph of UniQ's ``round_pass``; ``docs/math/uniq.md#gradients``)."""
    x = as_float_array(x, "x", allow_empty=True).astype(np.float64, copy=False)
    step = check_positive_scalar(step, "step")
    big_m = _levels(bits)
    y = x / step
    inside = (y >= 0) & (y <= big_m)
    gx = inside.astype(np.float64)
    gstep = np.where(inside, np.rint(y) - y, np.where(y > big_m, float(big_m), 0.0))
    return gx, gstep


def symmetric_midrise(w: np.ndarray, step: float, bits: int) -> np.ndarray:
    r"""UniQ's symmetric weight quantizer :math:`\Delta\,\mathrm{rint}(\mathrm{clip}(w/\Delta+M/2,
    0, M)) - \Delta M/2`, 2^b levels ±Δ/2, ..., ±MΔ/2 (released UniQ code;
    ``docs/math/uniq.md#weight-quantizer``)."""
    w = as_float_array(w, "w", allow_empty=True).astype(np.float64, copy=False)
    step = check_positive_scalar(step, "step")
    big_m = _levels(bits)
    return step * np.rint(np.clip(w / step + big_m / 2.0, 0.0, float(big_m))) - step * big_m / 2.0


def symmetric_midrise_grads(w: np.ndarray, step: float,
                            bits: int) -> tuple[np.ndarray, np.ndarray]:
    r"""(∂ŵ/∂w, ∂ŵ/∂Δ) of :func:`symmetric_midrise` through the straight-through round:
    ∂ŵ/∂w = 1 inside; ∂ŵ/∂Δ = rint(y) - y inside (y = w/Δ + M/2), +M/2 above, -M/2 below
    (derived here from UniQ's autograd graph; ``docs/math/uniq.md#gradients``)."""
    w = as_float_array(w, "w", allow_empty=True).astype(np.float64, copy=False)
    step = check_positive_scalar(step, "step")
    big_m = _levels(bits)
    y = w / step + big_m / 2.0
    inside = (y >= 0) & (y <= big_m)
    gw = inside.astype(np.float64)
    gstep = np.where(inside, np.rint(y) - y, np.where(y > big_m, big_m / 2.0, -big_m / 2.0))
    return gw, gstep
