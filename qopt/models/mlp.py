r"""Multi-layer perceptron.

.. math::

    f(x) = W_L\,\sigma(\dots\sigma(W_1 \operatorname{flatten}(x) + b_1)\dots) + b_L

with :math:`\sigma` = ReLU as a separate ``nn.ReLU`` module per layer (so that
:func:`qopt.quantize_model` can swap each one for its own quantized activation).

SOURCE: standard; the MNIST-1D baselines (Greydanus 2020) use a 2-hidden-layer MLP.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from theory._validate import check_dims


class MLP(nn.Module):
    """Fully connected ReLU network on flattened inputs.

    Args:
        in_features: input size after flattening (> 0).
        num_classes: output size (> 0).
        hidden: widths of the hidden layers (each > 0; may be empty: a linear model).
        batch_norm: insert ``BatchNorm1d`` before every ReLU.
    """

    def __init__(self, in_features: int, num_classes: int, hidden: Sequence[int] = (256, 256),
                 batch_norm: bool = False) -> None:
        super().__init__()
        check_dims(in_features=in_features, num_classes=num_classes)
        hidden = tuple(hidden)
        check_dims(**{f"hidden[{i}]": h for i, h in enumerate(hidden)})
        layers: list[nn.Module] = [nn.Flatten()]
        prev = in_features
        for h in hidden:
            layers.append(nn.Linear(prev, h, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm1d(h))
            layers.append(nn.ReLU())
            prev = h
        layers.append(nn.Linear(prev, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
