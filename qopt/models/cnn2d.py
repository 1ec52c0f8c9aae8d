r"""Small 2-D CNN for 8x8 digits and 28x28 MNIST (LeNet-like, with batch norm).

Blocks ``Conv3x3 - BN - ReLU - (MaxPool2)``; the number of pools is chosen so the feature map
stays at least 2x2; then global average pooling and a linear classifier.

SOURCE: LeNet-5-style network of the STE paper's MNIST experiment (Yin et al. 2019b, BN
added; ``docs/math/released-protocols.md#ste-experiments``);
sizes chosen here for CPU speed.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from theory._validate import check_dims


class CNN2D(nn.Module):
    """Small 2-D CNN.

    Args:
        in_channels: input channels (1 for digits/MNIST).
        num_classes: output size.
        channels: width of each conv block (a pool follows every block but the last).
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10,
                 channels: Sequence[int] = (16, 32, 64)) -> None:
        super().__init__()
        channels = tuple(channels)
        if not channels:
            raise ValueError("channels must be non-empty")
        check_dims(in_channels=in_channels, num_classes=num_classes,
                   **{f"channels[{i}]": c for i, c in enumerate(channels)})
        layers: list[nn.Module] = []
        prev = in_channels
        for i, c in enumerate(channels):
            layers += [nn.Conv2d(prev, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU()]
            if i < len(channels) - 1:
                layers.append(nn.MaxPool2d(2, ceil_mode=True))
            prev = c
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(prev, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:  # (B, H, W) -> (B, 1, H, W)
            x = x.unsqueeze(1)
        return self.classifier(self.features(x).mean(dim=(-2, -1)))
