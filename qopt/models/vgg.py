r"""VGG-11/13/16/19 with batch norm for 32x32 inputs (CIFAR).

Feature extractor: 3x3 conv - BN - ReLU blocks and 2x2 max pools following the configuration
lists below; after five pools a 32x32 image is 1x1x512, and the classifier is ONE linear layer
512 -> classes.

SOURCE: BinaryRelax / BCGD released code (penhunt/full-quantization-DNN ``nets/vgg_type.py``; VGG-11
with BN and one FC 512->10 in the BinaryRelax notebook,
``docs/math/released-protocols.md#data-and-models``); conv layers have a bias there, kept here
(``bias=True``).
"""

from __future__ import annotations

import torch
from torch import nn

from theory._validate import check_dims

__all__ = ["VGG", "VGG_CONFIGS", "vgg11", "vgg16"]

#: channels per conv layer, "M" = 2x2 max pool (Simonyan & Zisserman 2015, configs A, B, D, E)
VGG_CONFIGS: dict[str, tuple[int | str, ...]] = {
    "vgg11": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "vgg13": (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
              512, 512, 512, "M"),
    "vgg19": (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"),
}


class VGG(nn.Module):
    """VGG with batch norm.

    Args:
        config: a key of :data:`VGG_CONFIGS`.
        num_classes: output size.
        in_channels: input channels (3).
        width_mult: multiply every conv width (1.0 = the papers' network; < 1 for quick tests).
    """

    def __init__(self, config: str = "vgg11", num_classes: int = 10, in_channels: int = 3,
                 width_mult: float = 1.0) -> None:
        super().__init__()
        if config not in VGG_CONFIGS:
            raise ValueError(f"config must be one of {sorted(VGG_CONFIGS)}, got {config!r}")
        check_dims(num_classes=num_classes, in_channels=in_channels)
        if not (isinstance(width_mult, (int, float)) and width_mult > 0):
            raise ValueError(f"width_mult must be a positive number, got {width_mult!r}")
        layers: list[nn.Module] = []
        prev = in_channels
        for v in VGG_CONFIGS[config]:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                ch = max(1, int(round(int(v) * width_mult)))
                layers += [nn.Conv2d(prev, ch, 3, padding=1), nn.BatchNorm2d(ch), nn.ReLU()]
                prev = ch
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(prev, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        return self.classifier(x.flatten(1) if x.shape[-1] == 1 else x.mean(dim=(-2, -1)))


def vgg11(num_classes: int = 10, **kw: object) -> VGG:
    """VGG-11 with BN (BinaryRelax / BCGD CIFAR-10 network)."""
    return VGG("vgg11", num_classes, **kw)  # type: ignore[arg-type]


def vgg16(num_classes: int = 10, **kw: object) -> VGG:
    """VGG-16 with BN."""
    return VGG("vgg16", num_classes, **kw)  # type: ignore[arg-type]
