r"""Re-estimation of BatchNorm statistics at the final (exactly quantized) weights.

During training the running statistics of every BatchNorm layer are exponential averages of
batch statistics taken at the *training* points: the relaxed point :math:`(w+\lambda P(w))/
(1+\lambda)` in BinaryRelax's Phase I, and quantized points whose codes were still flipping in
BinaryConnect/BCGD. Evaluating the final quantized network with them measures a network that
never existed. Before the final evaluation the trainer therefore re-estimates them at the final
weights:

.. math:: \hat\mu = \frac1N\sum_{b=1}^N \mu_b, \qquad \hat\sigma^2 = \frac1N\sum_{b=1}^N s^2_b

over N training batches in train mode (:math:`\mu_b`, :math:`s^2_b` the batch mean and
unbiased batch variance of each channel; torch's ``momentum=None`` cumulative average), the
standard "precise BN" / SWA ``update_bn`` estimate. The batches: the first N of a pass over the
training set in the permutation of (seed, epoch = ``epochs``) — the epoch after the last one,
so the order is fixed by the config and independent of the global RNG — with the training
transform (augmentation included, as the statistics were gathered in training); further
permutations follow if N exceeds one pass. Nothing else changes: no gradient, no weight update.

SOURCE: derived here (the estimator is torch's cumulative average); the need was measured on
the quick study (cell means moved by 1.6-9.7 points, std cut several-fold).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable

import torch
from torch import nn


def batchnorm_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """Every BatchNorm layer that tracks running statistics."""
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
            and m.track_running_stats]


@torch.no_grad()
def recalibrate_bn(model: nn.Module, batches: Iterable[torch.Tensor], num_batches: int,
                   autocast: Callable[[], contextlib.AbstractContextManager] | None = None
                   ) -> int:
    """Replace every BatchNorm's running statistics by the cumulative average over
    ``num_batches`` batches (see the module docstring); returns the number of batches used
    (0 when the model has no BatchNorm). The model's train/eval mode and the layers'
    momenta are restored."""
    layers = batchnorm_layers(model)
    if not layers or num_batches <= 0:
        return 0
    was_training = model.training
    momenta = [m.momentum for m in layers]
    for m in layers:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    n = 0
    try:
        for x in batches:
            with autocast() if autocast is not None else contextlib.nullcontext():
                model(x)
            n += 1
            if n >= num_batches:
                break
    finally:
        for m, mom in zip(layers, momenta):
            m.momentum = mom
        model.train(was_training)
    return n


def bn_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Copies of every BatchNorm buffer (running mean/var, batch count), by buffer name."""
    names = {id(m) for m in batchnorm_layers(model)}
    out = {}
    for mname, mod in model.named_modules():
        if id(mod) in names:
            for bname, b in mod.named_buffers(recurse=False):
                if b is not None:
                    out[f"{mname}.{bname}" if mname else bname] = b.detach().clone()
    return out


def load_bn_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Write back buffers saved by :func:`bn_state`."""
    bufs = dict(model.named_buffers())
    with torch.no_grad():
        for k, v in state.items():
            bufs[k].copy_(v)
