r"""UniQ layers: Conv1d / Conv2d / Linear whose forward quantizes the weight (and optionally the
input activation) with learnable steps.

.. math::

    y = \mathrm{layer}\big(\hat a(x),\ \hat w(W)\big),

with :math:`\hat w` = :class:`~qopt.nn.uniq.UniQWeight` (per tensor or per output channel) and
:math:`\hat a` = :class:`~qopt.nn.uniq.UniQActivation` when ``act_bits`` is set (UniQ quantizes the
*input* of every layer, which follows a ReLU in its pre-activation ResNets), else the identity.

SOURCE: phuocphn/uniq ``quantizer/uniq.py`` (``UniQConv2d``, ``UniQLinear``); ``docs/math/uniq.md``.
The latent float weight stays the module's ``weight`` Parameter (trained by the base optimizer);
the steps are ``weight_quantizer.delta`` and ``act_quantizer.delta``.
:meth:`from_float` reuses the float layer's ``weight``/``bias`` Parameter objects (no copy), so an
optimizer built before the swap still updates them — but the new Δ parameters are not in it:
build the optimizer after :func:`qopt.quantize_model`.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from qopt.nn.uniq import UniQActivation, UniQWeight

__all__ = ["UniQConv1d", "UniQConv2d", "UniQLinear", "UniQLayer"]


class UniQLayer:
    """Mixin of the UniQ layers: quantizers, export, and construction from a float layer."""

    weight: nn.Parameter
    weight_quantizer: UniQWeight
    act_quantizer: UniQActivation | None

    def _setup_quantizers(self, bits: int, per_channel: bool, act_bits: int | None) -> None:
        dev, dt = self.weight.device, self.weight.dtype  # steps follow the weight's dtype
        self.weight_quantizer = UniQWeight(bits, per_channel, self.weight.shape[0]).to(dev, dt)
        self.act_quantizer = None if act_bits is None else UniQActivation(act_bits).to(dev, dt)
        self.init_weight_step()

    def init_weight_step(self) -> None:
        """Δ_w ← std(W)·c_w[b] from the current weight (UniQ initialisation,
        ``docs/math/uniq.md#initialisation``)."""
        self.weight_quantizer.init_from(self.weight)

    def quantized_weight(self) -> torch.Tensor:
        """ŵ = Δ(k − M/2) of the current weight (differentiable, LSQ backward)."""
        return self.weight_quantizer(self.weight)

    def quantized_input(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.act_quantizer is None else self.act_quantizer(x)

    def qopt_export(self) -> dict[str, Any]:
        """{"codes", "scale", "levels", "axis"} of the weight, with ``scale·levels[codes]`` equal
        bitwise to the weight the forward uses (see :meth:`UniQWeight.export`)."""
        return self.weight_quantizer.export(self.weight)

    @classmethod
    def _float_type(cls) -> type[nn.Module]:
        raise NotImplementedError

    @classmethod
    def _ctor_kwargs(cls, module: nn.Module) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_float(cls, module: nn.Module, bits: int, per_channel: bool = False,
                   act_bits: int | None = None) -> Any:
        """A UniQ layer sharing ``module``'s weight/bias Parameters, Δ_w initialised from them.

        Raises:
            TypeError: ``module`` is not exactly the matching float layer type.
        """
        ftype = cls._float_type()
        if type(module) is not ftype:
            raise TypeError(f"module must be an nn.{ftype.__name__}, got "
                            f"{type(module).__name__}")
        new = cls(**cls._ctor_kwargs(module), bits=bits, per_channel=per_channel,
                  act_bits=None, device="meta")
        new.weight = module.weight
        new.bias = module.bias
        new._setup_quantizers(bits, per_channel, act_bits)
        new.train(module.training)
        return new


class _UniQConvMixin(UniQLayer):
    @classmethod
    def _ctor_kwargs(cls, module: nn.Module) -> dict[str, Any]:
        m: Any = module
        return {"in_channels": m.in_channels, "out_channels": m.out_channels,
                "kernel_size": m.kernel_size, "stride": m.stride, "padding": m.padding,
                "dilation": m.dilation, "groups": m.groups, "bias": m.bias is not None,
                "padding_mode": m.padding_mode}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """conv(â(x), ŵ(W)) + bias."""
        return self._conv_forward(self.quantized_input(x), self.quantized_weight(), self.bias)


class UniQConv1d(_UniQConvMixin, nn.Conv1d):
    """``nn.Conv1d`` with UniQ weight (and optional input) quantization; ``bits``,
    ``per_channel``, ``act_bits`` keywords after the usual Conv1d arguments."""

    def __init__(self, *args: Any, bits: int = 4, per_channel: bool = False,
                 act_bits: int | None = None, **kwargs: Any) -> None:
        nn.Conv1d.__init__(self, *args, **kwargs)
        if self.weight.device.type != "meta":
            self._setup_quantizers(bits, per_channel, act_bits)

    @classmethod
    def _float_type(cls) -> type[nn.Module]:
        return nn.Conv1d


class UniQConv2d(_UniQConvMixin, nn.Conv2d):
    """``nn.Conv2d`` with UniQ weight (and optional input) quantization; ``bits``,
    ``per_channel``, ``act_bits`` keywords after the usual Conv2d arguments."""

    def __init__(self, *args: Any, bits: int = 4, per_channel: bool = False,
                 act_bits: int | None = None, **kwargs: Any) -> None:
        nn.Conv2d.__init__(self, *args, **kwargs)
        if self.weight.device.type != "meta":
            self._setup_quantizers(bits, per_channel, act_bits)

    @classmethod
    def _float_type(cls) -> type[nn.Module]:
        return nn.Conv2d


class UniQLinear(UniQLayer, nn.Linear):
    """``nn.Linear`` with UniQ weight (and optional input) quantization; ``bits``,
    ``per_channel``, ``act_bits`` keywords after the usual Linear arguments."""

    def __init__(self, *args: Any, bits: int = 4, per_channel: bool = False,
                 act_bits: int | None = None, **kwargs: Any) -> None:
        nn.Linear.__init__(self, *args, **kwargs)
        if self.weight.device.type != "meta":
            self._setup_quantizers(bits, per_channel, act_bits)

    @classmethod
    def _float_type(cls) -> type[nn.Module]:
        return nn.Linear

    @classmethod
    def _ctor_kwargs(cls, module: nn.Module) -> dict[str, Any]:
        m: Any = module
        return {"in_features": m.in_features, "out_features": m.out_features,
                "bias": m.bias is not None}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """â(x) ŵ(W)ᵀ + bias."""
        return F.linear(self.quantized_input(x), self.quantized_weight(), self.bias)
