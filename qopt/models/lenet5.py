r"""LeNet-5 with batch normalisation before every activation (the STE paper's MNIST network).

Architecture (LeCun et al. 1998 widths; BN placement of Yin et al., "Understanding
straight-through estimator in training activation quantized neural nets", ICLR 2019, §5:
"BN without scale or shift precedes each activation; BN is added to LeNet-5"):

=========  ===============================================  ==========================
stage      layer                                            output (28×28 input)
=========  ===============================================  ==========================
conv1      Conv 5×5, ``channels[0]`` = 6, padding 2, no bias  6 × 28 × 28
           BN → ReLU → MaxPool 2×2                          6 × 14 × 14
conv2      Conv 5×5, ``channels[1]`` = 16, no padding       16 × 10 × 10
           BN → ReLU → MaxPool 2×2                          16 × 5 × 5
fc1        Linear 400 → ``hidden[0]`` = 120, BN → ReLU      120
fc2        Linear 120 → ``hidden[1]`` = 84, BN → ReLU       84
fc3        Linear 84 → ``num_classes`` (the classifier)     10
=========  ===============================================  ==========================

Choices made here (the STE paper gives only "LeNet-5 with BN"): padding 2 on conv1 so that a
28×28 MNIST image gives the 28×28 map the original network computed from its 32×32 padded
input (a 32×32 input works too with ``padding=0``); max pooling (the common modern variant; the
1998 network used trainable sub-sampling); no bias in layers followed by BN (BN's mean removes
it). ``bn_affine=False`` (default) is the paper's BN "without scale or shift": every
pre-activation is then standardised over the batch, which is what makes the Gaussian-optimal
quantizer step (:mod:`qopt.nn.constants`) the right fixed α for a quantized ReLU.
``bn_affine=True`` gives the usual learnable γ, β.

The spatial size after the two conv/pool stages is
:math:`s_1 = \lfloor (H + 2p - 4)/2\rfloor`, :math:`s_2 = \lfloor (s_1 - 4)/2 \rfloor`
(same for the width); inputs too small for :math:`s_2 \ge 1` raise ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from theory._validate import check_dims

__all__ = ["LeNet5", "lenet5_feature_size"]


def lenet5_feature_size(height: int, width: int, padding: int = 2) -> tuple[int, int]:
    """Spatial size (s_H, s_W) of the feature map entering fc1 (module docstring formula).

    Raises:
        ValueError: the input is too small (a size below 1 after the second pool).
    """
    check_dims(height=height, width=width)
    if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
        raise ValueError(f"padding must be an int >= 0, got {padding!r}")
    out = []
    for name, s in (("height", height), ("width", width)):
        s1 = (s + 2 * padding - 4) // 2
        s2 = (s1 - 4) // 2
        if s + 2 * padding - 4 < 1 or s1 - 4 < 1 or s2 < 1:
            raise ValueError(f"LeNet-5 needs a larger input: {name} {s} with padding {padding} "
                             "leaves no feature map after two 5x5 conv + 2x2 pool stages "
                             "(>= 16 pixels needed with padding 2, e.g. 28x28 MNIST)")
        out.append(s2)
    return out[0], out[1]


class LeNet5(nn.Module):
    """LeNet-5 with BN before each activation (see the module docstring for the layer table).

    Args:
        in_channels: input channels (1 for MNIST).
        num_classes: output size.
        input_size: (H, W) of one input image (default 28×28 MNIST).
        channels: output channels of conv1 and conv2 (default 6, 16).
        hidden: widths of fc1 and fc2 (default 120, 84).
        padding: zero padding of conv1 (2 for 28×28 inputs, 0 for 32×32).
        bn_affine: learnable BN scale and shift (default False, as in the STE paper).

    Raises:
        ValueError/TypeError naming the argument for non-positive sizes or a too small input.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10,
                 input_size: Sequence[int] = (28, 28), channels: Sequence[int] = (6, 16),
                 hidden: Sequence[int] = (120, 84), padding: int = 2,
                 bn_affine: bool = False) -> None:
        super().__init__()
        channels, hidden, input_size = tuple(channels), tuple(hidden), tuple(input_size)
        for name, seq in (("channels", channels), ("hidden", hidden),
                          ("input_size", input_size)):
            if len(seq) != 2:
                raise ValueError(f"{name} must have 2 entries, got {seq!r}")
        check_dims(in_channels=in_channels, num_classes=num_classes,
                   **{f"channels[{i}]": c for i, c in enumerate(channels)},
                   **{f"hidden[{i}]": h for i, h in enumerate(hidden)})
        if not isinstance(bn_affine, bool):
            raise TypeError(f"bn_affine must be a bool, got {bn_affine!r}")
        sh, sw = lenet5_feature_size(input_size[0], input_size[1], padding)
        c1, c2 = channels
        self.input_size = input_size
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, 5, padding=padding, bias=False),
            nn.BatchNorm2d(c1, affine=bn_affine), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 5, bias=False),
            nn.BatchNorm2d(c2, affine=bn_affine), nn.ReLU(), nn.MaxPool2d(2),
        )
        h1, h2 = hidden
        self.fc = nn.Sequential(
            nn.Linear(c2 * sh * sw, h1, bias=False), nn.BatchNorm1d(h1, affine=bn_affine),
            nn.ReLU(),
            nn.Linear(h1, h2, bias=False), nn.BatchNorm1d(h2, affine=bn_affine), nn.ReLU(),
        )
        self.classifier = nn.Linear(h2, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:  # (B, H, W) -> (B, 1, H, W)
            x = x.unsqueeze(1)
        if tuple(x.shape[-2:]) != self.input_size:
            raise ValueError(f"LeNet5 was built for {self.input_size[0]}x{self.input_size[1]} "
                             f"inputs, got {tuple(x.shape[-2:])}")
        return self.classifier(self.fc(self.features(x).flatten(1)))
