"""Quantized modules: quantized ReLU with coarse gradients (BCGD) and UniQ learnable-step layers.

==============================  ===========================================================
name                            what
==============================  ===========================================================
:class:`QuantReLU`              b-bit quantized ReLU, ceil (BCGD) or round forward, STE and
                                α-gradient variants (docs/math/activation-quantizers.md)
:func:`quant_relu`              its functional form (``torch.autograd.Function``)
:class:`UniQWeight`             learnable symmetric weight quantizer, LSQ step gradient (UniQ)
:class:`UniQActivation`         learnable unsigned activation quantizer (UniQ)
:class:`UniQConv1d`/``2d``,     layers quantizing their weight (and optionally input) in
:class:`UniQLinear`             the forward pass; ``from_float``, ``qopt_export``
:func:`calibrate_uniq`          UniQ's Gaussian-optimal calibration over data batches
:mod:`qopt.nn.constants`        Gaussian-optimal step tables (UniQ c_w, c_a; BCGD; derived)
==============================  ===========================================================
"""

from qopt.nn.quant_relu import QuantReLU
from qopt.nn.ste import ALPHA_GRADS, FORWARDS, STES, quant_relu
from qopt.nn.uniq import UniQActivation, UniQWeight, calibrate_uniq, uniq_calibration
from qopt.nn.uniq_layers import UniQConv1d, UniQConv2d, UniQLayer, UniQLinear

__all__ = [
    "ALPHA_GRADS",
    "FORWARDS",
    "STES",
    "QuantReLU",
    "UniQActivation",
    "UniQConv1d",
    "UniQConv2d",
    "UniQLayer",
    "UniQLinear",
    "UniQWeight",
    "calibrate_uniq",
    "quant_relu",
    "uniq_calibration",
]
