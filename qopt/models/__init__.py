"""Hand-written models (no torchvision) and the model registry used by configs and the CLI.

=================  ==========================================  ============================
name               class                                        for
=================  ==========================================  ============================
``mlp``            :class:`~qopt.models.mlp.MLP`                any flat input
``cnn1d``          :class:`~qopt.models.cnn1d.CNN1D`            MNIST-1D
``cnn2d``          :class:`~qopt.models.cnn2d.CNN2D`            digits (8x8), MNIST (28x28)
``lenet5``         :class:`~qopt.models.lenet5.LeNet5`          MNIST (28x28; STE paper, BN)
``resnet20..110``  :class:`~qopt.models.resnet_cifar.ResNetCifar`  CIFAR-10/100
``vgg11, vgg16``   :class:`~qopt.models.vgg.VGG`                CIFAR-10/100
``twolayer``       :class:`~qopt.models.twolayer.TwoLayer`      the Gaussian teacher task
=================  ==========================================  ============================
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from torch import nn

from qopt.models.cnn1d import CNN1D
from qopt.models.cnn2d import CNN2D
from qopt.models.lenet5 import LeNet5
from qopt.models.mlp import MLP
from qopt.models.resnet_cifar import ResNetCifar
from qopt.models.twolayer import TwoLayer
from qopt.models.vgg import VGG

__all__ = ["MLP", "CNN1D", "CNN2D", "LeNet5", "ResNetCifar", "VGG", "TwoLayer", "MODELS",
           "build_model"]


def _mlp(input_shape: tuple[int, ...], num_classes: int, **kw: Any) -> nn.Module:
    return MLP(math.prod(input_shape), num_classes, **kw)


def _cnn1d(input_shape: tuple[int, ...], num_classes: int, **kw: Any) -> nn.Module:
    return CNN1D(input_shape[0] if len(input_shape) == 2 else 1, num_classes, **kw)


def _cnn2d(input_shape: tuple[int, ...], num_classes: int, **kw: Any) -> nn.Module:
    return CNN2D(input_shape[0] if len(input_shape) == 3 else 1, num_classes, **kw)


def _resnet(depth: int) -> Callable[..., nn.Module]:
    def build(input_shape: tuple[int, ...], num_classes: int, **kw: Any) -> nn.Module:
        return ResNetCifar(depth, num_classes, in_channels=input_shape[0], **kw)
    return build


def _vgg(cfg: str) -> Callable[..., nn.Module]:
    def build(input_shape: tuple[int, ...], num_classes: int, **kw: Any) -> nn.Module:
        return VGG(cfg, num_classes, in_channels=input_shape[0], **kw)
    return build


def _twolayer(input_shape: tuple[int, ...], num_classes: int, **kw: Any) -> nn.Module:
    if len(input_shape) != 2:
        raise ValueError(f"model 'twolayer' needs samples of shape (m, n) (the 'teacher' "
                         f"dataset), got {tuple(input_shape)}")
    m, n = input_shape
    return TwoLayer(m, n, **kw)


#: name -> builder(input_shape, num_classes, **model_args)
MODELS: dict[str, Callable[..., nn.Module]] = {
    "mlp": _mlp,
    "cnn1d": _cnn1d,
    "cnn2d": _cnn2d,
    "lenet5": lambda s, k, **kw: LeNet5(s[0] if len(s) == 3 else 1, k, input_size=s[-2:], **kw),
    **{f"resnet{d}": _resnet(d) for d in (20, 32, 44, 56, 110)},
    **{name: _vgg(name) for name in ("vgg11", "vgg13", "vgg16", "vgg19")},
    "twolayer": _twolayer,
}


def build_model(name: str, input_shape: tuple[int, ...], num_classes: int,
                **model_args: Any) -> nn.Module:
    """Build a registered model for data of per-sample shape ``input_shape``.

    Args:
        name: a key of :data:`MODELS`.
        input_shape: shape of one sample (e.g. ``(40,)`` MNIST-1D, ``(3, 32, 32)`` CIFAR).
        num_classes: number of outputs (ignored by ``twolayer``, a scalar regressor).
        **model_args: keyword arguments of the model class (e.g. ``channels=16``).

    Raises:
        ValueError: unknown name (the message lists the known ones) or bad model arguments.
    """
    if name not in MODELS:
        raise ValueError(f"model must be one of {sorted(MODELS)}, got {name!r}")
    try:
        return MODELS[name](tuple(input_shape), num_classes, **model_args)
    except TypeError as exc:
        if "unexpected keyword" in str(exc) or "positional argument" in str(exc):
            raise ValueError(f"bad model_args for model {name!r}: {exc}") from exc
        raise
