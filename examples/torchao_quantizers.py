"""The quantizers people deploy, as adapters for ``qopt verify quantizer`` (torchao optional).

Each function takes a float ``torch.Tensor`` (``--backend torch``), 1-D (one block) or 2-D with
one block per row (``--axis 0``), and returns its quantized-then-dequantized values. A *block*
is whatever shares one scale: a whole tensor (1-D input), an output channel (a row of a weight)
or a group of g consecutive weights of a row (reshape the weight to ``(-1, g)``: rows = groups).

    qopt verify quantizer examples/torchao_quantizers.py:int8_symmetric \\
        --set scaled:-128,...,127 --backend torch --axis 0        # exit 1: optimality fails
    qopt verify quantizer examples/torchao_quantizers.py:exact_int4 \\
        --set scaled:-8,-7,-6,-5,-4,-3,-2,-1,0,1,2,3,4,5,6,7 --backend torch --axis 0  # exit 0

torchao (``pip install qopt[compare]``: ``torchao>=0.10``; measured with 0.18.0) provides

* ``int4_symmetric`` / ``int8_symmetric``: ``choose_qparams_affine`` (``MappingType.SYMMETRIC``,
  quant range [-8, 7] / [-128, 127], torchao's defaults for int4 / int8 weights) +
  ``quantize_affine`` + ``dequantize_affine``: scale ``max|w| / ((qmax - qmin)/2)`` (7.5, 127.5),
  codes ``clamp(round(w / scale), qmin, qmax)``; the set is {qmin..qmax}·α (free α per block);
* ``int4_asymmetric`` / ``int8_asymmetric``: the same with ``MappingType.ASYMMETRIC`` (uint4
  [0, 15], uint8 [0, 255]): scale ``(max w - min w)/(qmax - qmin)`` (min/max clipped to include
  0), integer zero point z in [qmin, qmax]; the set is {α(l - z): l = qmin..qmax} (free α and z
  per block);
* ``nf4``: torchao's ``NF4Tensor`` (``to_nf4``; QLoRA's NormalFloat4, Dettmers et al. 2023): per
  block absmax scaling to the 16 NF4 levels, the absmax scalers themselves double-quantized to
  int8 per ``scaler_block_size`` blocks (here gcd(blocks, 256): torchao needs it to divide the
  number of blocks). The set is {NF4 levels}·α, free α per block. torchao refuses blocks of odd
  length (``AssertionError``: the verifier's ``contract`` check reports it).

Without torchao:

* ``absmax_int4`` / ``absmax_int8``: the plain absmax rule, scale ``max|w| / K`` onto
  {-K..K}·α (K = 7, 127: ``uniform:4`` / ``uniform:8``), ``round`` half to even;
* ``exact_int4``: qopt's exact projection onto {-8..7}·α per row (what the verifier passes).
"""

from __future__ import annotations

import math

import torch

#: NF4 levels as published (QLoRA, Dettmers et al. 2023, Appendix E; torchao nf4_tensor.py)
NF4_LEVELS = (-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
              -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
              0.07958029955625534, 0.16093020141124725, 0.24611230194568634,
              0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
              0.7229568362236023, 1.0)

#: the same levels as torchao's NF4Tensor holds them: rounded to 4 decimals (nf4_tensor.py)
NF4_LEVELS_TORCHAO = (-1.0, -0.6962, -0.5251, -0.3949, -0.2844, -0.1848, -0.0911, 0.0, 0.0796,
                      0.1609, 0.2461, 0.3379, 0.4407, 0.5626, 0.7230, 1.0)


def _affine(w: torch.Tensor, symmetric: bool, bits: int) -> torch.Tensor:
    from torchao.quantization.quant_primitives import (
        MappingType,
        choose_qparams_affine,
        dequantize_affine,
        quantize_affine,
    )

    if symmetric:
        qmin, qmax = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
        mapping = MappingType.SYMMETRIC
    else:
        qmin, qmax = 0, 2**bits - 1
        mapping = MappingType.ASYMMETRIC
    x = w if w.dim() == 2 else w.reshape(1, -1)
    block = (1, x.shape[1])
    target = torch.int32  # holds every code of 4- and 8-bit ranges
    scale, zero = choose_qparams_affine(x, mapping, block, target, qmin, qmax)
    codes = quantize_affine(x, block, scale, zero, target, qmin, qmax)
    out = dequantize_affine(codes, block, scale, zero, target, qmin, qmax, output_dtype=x.dtype)
    return out.reshape(w.shape)


def int4_symmetric(w: torch.Tensor) -> torch.Tensor:
    """torchao int4 symmetric, one scale per block (row): set {-8..7}·α."""
    return _affine(w, True, 4)


def int8_symmetric(w: torch.Tensor) -> torch.Tensor:
    """torchao int8 symmetric, one scale per block (row): set {-128..127}·α."""
    return _affine(w, True, 8)


def int4_asymmetric(w: torch.Tensor) -> torch.Tensor:
    """torchao uint4 asymmetric (zero point), per block: set {α(l - z): l = 0..15}."""
    return _affine(w, False, 4)


def int8_asymmetric(w: torch.Tensor) -> torch.Tensor:
    """torchao uint8 asymmetric (zero point), per block: set {α(l - z): l = 0..255}."""
    return _affine(w, False, 8)


def nf4(w: torch.Tensor) -> torch.Tensor:
    """torchao NF4Tensor with one block per row (block size = row length), dequantized."""
    from torchao.quantization.quantize_.workflows.nf4.nf4_tensor import NF4Tensor

    x = w if w.dim() == 2 else w.reshape(1, -1)
    n_blocks, size = x.shape
    t = NF4Tensor.from_tensor(x.contiguous(), size, math.gcd(n_blocks, 256))
    return t.get_original_weight().to(w.dtype).reshape(w.shape)


def _absmax(w: torch.Tensor, k: int) -> torch.Tensor:
    x = w if w.dim() == 2 else w.reshape(1, -1)
    s = x.abs().amax(dim=1, keepdim=True) / k
    safe = torch.where(s > 0, s, torch.ones_like(s))
    q = torch.round(x / safe).clamp(-k, k) * s
    return q.reshape(w.shape).to(w.dtype)


def absmax_int4(w: torch.Tensor) -> torch.Tensor:
    """The plain absmax rule onto {-7..7}·α (``uniform:4``), per block."""
    return _absmax(w, 7)


def absmax_int8(w: torch.Tensor) -> torch.Tensor:
    """The plain absmax rule onto {-127..127}·α (``uniform:8``), per block."""
    return _absmax(w, 127)


def exact_int4(w: torch.Tensor) -> torch.Tensor:
    """qopt's exact projection onto {-8..7}·α, one scale per block (row)."""
    import qopt
    from theory import Grid

    x = w if w.dim() == 2 else w.reshape(1, -1)
    return qopt.project(x, Grid(tuple(range(-8, 8)), None), 0).q.reshape(w.shape)
