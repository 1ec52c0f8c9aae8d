r"""UniQ quantizer modules: learnable step Δ, LSQ gradient scale, Gaussian-optimal calibration.

SOURCE: phuocphn/uniq ``quantizer/uniq.py`` (``UniQQuantizer``) and ``main.py``
(``simple_initialization``); ``docs/math/uniq.md``. Forward/backward formulas:
:mod:`qopt.nn.uniq_functions`.

Initialisation (released UniQ code; ``docs/math/uniq.md#initialisation``):

* weights: :math:`\Delta = \mathrm{std}(W)\,c_w[b]` (unbiased std; per output channel when
  ``per_channel``) — :meth:`UniQWeight.init_from`, called when a layer is built from a float one;
* activations: :math:`\Delta = \max_{\text{batches}} \sqrt{2\,\overline{x^2}}\,c_a[b]`, starting
  from the first batch (UniQ starts from Δ = 0): √(2 E x²) estimates the pre-ReLU σ when x is a
  ReLU output. Run :func:`calibrate_uniq` (or forward passes inside :func:`uniq_calibration`).
  Before calibration Δ = c_a[b] (unit pre-ReLU σ assumed).

Gradient scale (per forward call, from shapes only: no host sync):
:math:`g_w = 1/\sqrt{N_w Q_p}`, :math:`Q_p = \max(2^{b-1}-1, 1)`, N_w = numel(W) per tensor or
numel(W)/C per channel; :math:`g_a = 1/\sqrt{\mathrm{numel}(x)(2^b-1)}` (batch included).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

from qopt.nn.constants import uniq_activation_constant, uniq_weight_constant
from qopt.nn.uniq_functions import (
    uniq_activation_quantize,
    uniq_weight_codes,
    uniq_weight_quantize,
)
from theory._validate import check_bits, check_bool, check_int, check_positive_scalar

__all__ = ["UniQActivation", "UniQWeight", "calibrate_uniq", "uniq_calibration"]


class UniQWeight(nn.Module):
    r"""Learnable symmetric weight quantizer :math:`\hat w = \Delta(k - M/2)` (UniQ).

    Args:
        bits: b in 1..16 (2^b levels ±Δ/2..±(2^b−1)Δ/2; b = 1 = binarization ±Δ/2).
        per_channel: one Δ per output channel (axis 0) instead of one per tensor.
        channels: C, required when ``per_channel`` (the size of axis 0 of the weight).
        grad_scale: multiply the Δ-gradient by g = 1/√(N Q_p) (LSQ); False gives the raw
            straight-through derivative.
        min_step: forward lower bound on Δ.
    """

    def __init__(self, bits: int, per_channel: bool = False, channels: int | None = None, *,
                 grad_scale: bool = True, min_step: float = 1e-12) -> None:
        super().__init__()
        self.bits = check_bits(bits, "bits")
        self.per_channel = check_bool(per_channel, "per_channel")
        self.use_grad_scale = check_bool(grad_scale, "grad_scale")
        self.min_step = check_positive_scalar(min_step, "min_step")
        shape = (check_int(channels, "channels (needed when per_channel=True)", 1, 2**31),
                 ) if self.per_channel else ()
        self.delta = nn.Parameter(torch.full(shape, uniq_weight_constant(self.bits)))

    @property
    def levels(self) -> torch.Tensor:
        """Unit levels k − M/2, k = 0..M (float64): ŵ = Δ·levels[code]."""
        big_m = 2 ** self.bits - 1
        return torch.arange(big_m + 1, dtype=torch.float64) - big_m / 2.0

    def grad_scale(self, w: torch.Tensor) -> float:
        """g = 1/√(N·max(2^{b−1}−1, 1)) with N the per-tensor or PER-CHANNEL element count."""
        if not self.use_grad_scale:
            return 1.0
        n = w.numel() // w.shape[0] if self.per_channel else w.numel()
        return 1.0 / math.sqrt(max(n, 1) * max(2 ** (self.bits - 1) - 1, 1))

    def _check(self, w: torch.Tensor) -> None:
        if self.per_channel and (w.dim() == 0 or w.shape[0] != self.delta.shape[0]):
            raise ValueError(f"weight axis 0 has size {tuple(w.shape)[:1]} but this quantizer "
                             f"has {self.delta.shape[0]} per-channel steps")

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        """ŵ with the LSQ straight-through backward (see :mod:`qopt.nn.uniq_functions`)."""
        self._check(w)
        return uniq_weight_quantize(w, self.delta, self.bits, self.grad_scale(w), self.min_step)

    @torch.no_grad()
    def init_from(self, w: torch.Tensor) -> None:
        r"""Δ ← std(W)·c_w[b] (unbiased; per channel over all but axis 0). A zero or undefined
        std (constant or one-element slices) falls back to max|W| of the slice, then to 1."""
        self._check(w)
        flat = w.detach().reshape(w.shape[0], -1) if self.per_channel else w.detach().reshape(1, -1)
        flat = flat.to(torch.float32 if flat.dtype != torch.float64 else torch.float64)
        std = flat.std(dim=1) if flat.shape[1] > 1 else flat.new_zeros(flat.shape[0])
        std = torch.nan_to_num(std, nan=0.0, posinf=0.0)
        amax = flat.abs().amax(dim=1)
        step = torch.where(std > 0, std, torch.where(amax > 0, amax, torch.ones_like(amax)))
        self.delta.copy_((step * uniq_weight_constant(self.bits)).reshape(self.delta.shape))

    def export(self, w: torch.Tensor) -> dict[str, object]:
        """{"codes", "scale", "levels", "axis", "kind", "qset"} with ``scale * levels[codes] ==
        forward(w)`` bitwise; ``scale`` is 0-d, or shaped (C, 1, ..., 1) per channel so that it
        broadcasts. Codes are indices k ∈ {0..M} (``kind="indices"``: the levels k − M/2 are not
        integers) in the smallest integer dtype (uint8 for b <= 8, int16 for b <= 15, else
        int32); ``qset`` is the theory spec ``"symmetric:B"`` of the level set."""
        with torch.no_grad():
            self._check(w)
            k, d = uniq_weight_codes(w.detach(), self.delta.detach(), self.bits, self.min_step)
        big_m = 2 ** self.bits - 1
        dtype = torch.uint8 if big_m <= 255 else torch.int16 if big_m <= 32767 else torch.int32
        return {"codes": k.to(dtype), "scale": d, "levels": self.levels.to(w.dtype).to(w.device),
                "axis": 0 if self.per_channel else None, "kind": "indices",
                "qset": f"symmetric:{self.bits}"}

    def extra_repr(self) -> str:
        return f"bits={self.bits}, per_channel={self.per_channel}"


class UniQActivation(nn.Module):
    r"""Learnable unsigned activation quantizer :math:`\hat a = \Delta\,\mathrm{clip}(
    \mathrm{round}(x/\Delta), 0, 2^b-1)` (UniQ), one Δ per tensor.

    Args:
        bits: b in 1..16.
        grad_scale: multiply the Δ-gradient by g = 1/√(numel(x)(2^b−1)) (LSQ/UniQ).
        min_step: forward lower bound on Δ.
    """

    def __init__(self, bits: int, *, grad_scale: bool = True, min_step: float = 1e-12) -> None:
        super().__init__()
        self.bits = check_bits(bits, "bits")
        self.use_grad_scale = check_bool(grad_scale, "grad_scale")
        self.min_step = check_positive_scalar(min_step, "min_step")
        self.delta = nn.Parameter(torch.tensor(uniq_activation_constant(self.bits)))
        self.calibrating = False
        self.calibration_batches = 0

    def grad_scale(self, x: torch.Tensor) -> float:
        """g = 1/√(N (2^b − 1)), N = numel(x) including the batch dimension."""
        if not self.use_grad_scale:
            return 1.0
        return 1.0 / math.sqrt(max(x.numel(), 1) * (2 ** self.bits - 1))

    @torch.no_grad()
    def observe(self, x: torch.Tensor) -> None:
        r"""Calibration update Δ ← max(Δ, √(2·mean x²)·c_a[b]) (first batch: Δ ← that value)."""
        s = torch.sqrt(2.0 * torch.mean(x.detach().to(torch.float32) ** 2))
        s = (s * uniq_activation_constant(self.bits)).to(self.delta.dtype)
        if self.calibration_batches > 0:
            s = torch.maximum(s, self.delta)
        self.delta.copy_(s)
        self.calibration_batches += 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """â with the LSQ straight-through backward; records x first when calibrating."""
        if self.calibrating:
            self.observe(x)
        return uniq_activation_quantize(x, self.delta, self.bits, self.grad_scale(x),
                                        self.min_step)

    def extra_repr(self) -> str:
        return f"bits={self.bits}"


@contextmanager
def uniq_calibration(model: nn.Module) -> Iterator[nn.Module]:
    """Inside, every :class:`UniQActivation` of ``model`` restarts its calibration and records
    each forward's input (Δ = max over batches of √(2 mean x²)·c_a[b]); every UniQ layer
    re-initialises its weight step from its current weight (std·c_w[b])."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    acts = [m for m in model.modules() if isinstance(m, UniQActivation)]
    for m in model.modules():
        init = getattr(m, "init_weight_step", None)
        if callable(init):
            init()
    for a in acts:
        a.calibrating, a.calibration_batches = True, 0
    try:
        yield model
    finally:
        for a in acts:
            a.calibrating = False


def calibrate_uniq(model: nn.Module, batches: Iterable[object], num_batches: int = 100) -> int:
    """UniQ's ``simple_initialization``: forward up to ``num_batches`` batches (no grad) inside
    :func:`uniq_calibration`; returns the number of batches used.

    A batch is a tensor or a (inputs, targets, ...) tuple/list; inputs move to the device of the
    model's first parameter. The model's train/eval mode is left as it is (UniQ calibrates in
    train mode, which also updates BatchNorm running statistics).
    """
    if isinstance(num_batches, bool) or not isinstance(num_batches, int) or num_batches < 1:
        raise ValueError(f"num_batches must be a positive int, got {num_batches!r}")
    param = next(model.parameters(), None) if isinstance(model, nn.Module) else None
    used = 0
    with torch.no_grad(), uniq_calibration(model):
        for batch in batches:
            if used >= num_batches:
                break
            x = batch[0] if isinstance(batch, (tuple, list)) else batch
            if not isinstance(x, torch.Tensor):
                raise TypeError(f"batches must yield tensors or (tensor, ...) tuples, got "
                                f"{type(x).__name__}")
            model(x.to(param.device) if param is not None else x)
            used += 1
    return used
