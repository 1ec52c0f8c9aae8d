r"""CIFAR ResNet-20/32/44/56/110 (He et al. 2016, §4.2) with batch norm.

Depth :math:`d = 6n + 2`: a 3x3 conv (16 channels), three stages of :math:`n` basic blocks with
16/32/64 channels (stride 2 at the start of stages 2 and 3), global average pooling and a linear
classifier. A basic block computes

.. math::

    y = \sigma\big(\mathrm{BN}(W_b * \sigma(\mathrm{BN}(W_a * x))) + S(x)\big)

with the shortcut :math:`S` = identity, or on a shape change option **A** (stride-2 subsampling
and zero channel padding, parameter-free) or option **B** (1x1 conv + BN).

SOURCE: BCGD released code ``nets/resnet_type_cifar.py`` (``DownsampleA``, conv init
:math:`\mathcal N(0, 2/(k^2 c_{out}))`; ``docs/math/released-protocols.md#data-and-models``).
Deviation: that code reuses ONE activation module twice per block; here every activation is its
own ``nn.ReLU`` module so that each gets its own quantizer (and its own α) under
:func:`qopt.quantize_model`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from theory._validate import check_dims

__all__ = ["ResNetCifar", "resnet20", "resnet32", "resnet44", "resnet56", "resnet110"]


class ShortcutA(nn.Module):
    """Option-A shortcut: x[:, :, ::s, ::s] padded with zero channels up to ``out_ch``."""

    def __init__(self, in_ch: int, out_ch: int, stride: int) -> None:
        super().__init__()
        self.stride, self.extra = stride, out_ch - in_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return torch.cat((x, x.new_zeros(x.shape[0], self.extra, *x.shape[2:])), 1)


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with a residual connection and two separate ReLU modules."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, shortcut: str) -> None:
        super().__init__()
        self.conv_a = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)
        self.bn_a = nn.BatchNorm2d(out_ch)
        self.relu_a = nn.ReLU()
        self.conv_b = nn.Conv2d(out_ch, out_ch, 3, stride=1, padding=1, bias=False)
        self.bn_b = nn.BatchNorm2d(out_ch)
        self.relu_b = nn.ReLU()
        self.shortcut: nn.Module
        if stride == 1 and in_ch == out_ch:
            self.shortcut = nn.Identity()
        elif shortcut == "A":
            self.shortcut = ShortcutA(in_ch, out_ch, stride)
        else:
            self.shortcut = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu_a(self.bn_a(self.conv_a(x)))
        y = self.bn_b(self.conv_b(y))
        return self.relu_b(y + self.shortcut(x))


class ResNetCifar(nn.Module):
    """CIFAR ResNet of depth 6n+2.

    Args:
        depth: 20, 32, 44, 56, 110 (any 6n+2 with n >= 1).
        num_classes: 10 (CIFAR-10) or 100 (CIFAR-100).
        shortcut: ``"A"`` (zero padding, as in the papers' code) or ``"B"`` (1x1 conv).
        in_channels: input channels (3).
        width: channels of the first stage (16); stages use width, 2 width, 4 width.
    """

    def __init__(self, depth: int = 20, num_classes: int = 10, shortcut: str = "A",
                 in_channels: int = 3, width: int = 16) -> None:
        super().__init__()
        check_dims(depth=depth, num_classes=num_classes, in_channels=in_channels, width=width)
        if (depth - 2) % 6 != 0 or depth < 8:
            raise ValueError(f"depth must be 6n+2 with n >= 1 (20, 32, 44, 56, 110), got {depth}")
        if shortcut not in ("A", "B"):
            raise ValueError(f"shortcut must be 'A' or 'B', got {shortcut!r}")
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_channels, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu1 = nn.ReLU()
        stages = []
        prev = width
        for i, ch in enumerate((width, 2 * width, 4 * width)):
            blocks = [BasicBlock(prev if j == 0 else ch, ch, 2 if (i > 0 and j == 0) else 1,
                                 shortcut) for j in range(n)]
            stages.append(nn.Sequential(*blocks))
            prev = ch
        self.stage1, self.stage2, self.stage3 = stages
        self.classifier = nn.Linear(prev, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu1(self.bn1(self.conv1(x)))
        x = self.stage3(self.stage2(self.stage1(x)))
        return self.classifier(x.mean(dim=(-2, -1)))


def resnet20(num_classes: int = 10, **kw: object) -> ResNetCifar:
    """ResNet-20 (0.27 M parameters)."""
    return ResNetCifar(20, num_classes, **kw)  # type: ignore[arg-type]


def resnet32(num_classes: int = 10, **kw: object) -> ResNetCifar:
    """ResNet-32."""
    return ResNetCifar(32, num_classes, **kw)  # type: ignore[arg-type]


def resnet44(num_classes: int = 10, **kw: object) -> ResNetCifar:
    """ResNet-44."""
    return ResNetCifar(44, num_classes, **kw)  # type: ignore[arg-type]


def resnet56(num_classes: int = 10, **kw: object) -> ResNetCifar:
    """ResNet-56."""
    return ResNetCifar(56, num_classes, **kw)  # type: ignore[arg-type]


def resnet110(num_classes: int = 10, **kw: object) -> ResNetCifar:
    """ResNet-110."""
    return ResNetCifar(110, num_classes, **kw)  # type: ignore[arg-type]
