r"""1-D convolutional network for MNIST-1D (sequences of length 40, one channel).

Three ``Conv1d(k=5, stride 2, pad 2)`` blocks (BN + ReLU) halve the length each time, then a
global average pool and a linear classifier:

.. math::

    x \in \mathbb{R}^{1\times L} \to \mathbb{R}^{c\times L/2} \to \mathbb{R}^{c\times L/4}
    \to \mathbb{R}^{c\times L/8} \xrightarrow{\text{mean}} \mathbb{R}^{c} \to \mathbb{R}^{10}.

SOURCE: in the spirit of the MNIST-1D reference CNN (Greydanus 2020: 3 conv layers of 25
channels, stride 2); batch norm added as in the quantization papers (it makes binary/ternary
weights trainable, since BN absorbs the scale of the quantized conv).
"""

from __future__ import annotations

import torch
from torch import nn

from theory._validate import check_dims


class CNN1D(nn.Module):
    """Small 1-D CNN.

    Args:
        in_channels: input channels (1 for MNIST-1D).
        num_classes: output size.
        channels: width of every conv layer.
        depth: number of stride-2 conv blocks (>= 1).
        kernel_size: odd kernel size.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, channels: int = 32,
                 depth: int = 3, kernel_size: int = 5) -> None:
        super().__init__()
        check_dims(in_channels=in_channels, num_classes=num_classes, channels=channels,
                   depth=depth, kernel_size=kernel_size)
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        layers: list[nn.Module] = []
        prev = in_channels
        for _ in range(depth):
            layers += [nn.Conv1d(prev, channels, kernel_size, stride=2, padding=kernel_size // 2,
                                 bias=False),
                       nn.BatchNorm1d(channels), nn.ReLU()]
            prev = channels
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:  # (B, L) -> (B, 1, L)
            x = x.unsqueeze(1)
        return self.classifier(self.features(x).mean(dim=-1))
