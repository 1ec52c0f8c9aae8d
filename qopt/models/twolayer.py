r"""The two-linear-layer Gaussian model of the STE paper (Yin et al. 2019b) as an ``nn.Module``.

Input :math:`Z \in \mathbb{R}^{m\times n}` (one sample), parameters :math:`w\in\mathbb{R}^n`,
:math:`v\in\mathbb{R}^m`:

.. math::

    y = v^\top \sigma(Z w), \qquad \sigma(x) = \mathbf 1\{x > 0\} \text{ (componentwise)},

trained with :math:`\ell = \tfrac12 (y - y^*)^2`. The coarse gradient replaces
:math:`\sigma' = 0` by a straight-through proxy :math:`\mu'` (``ste``: ``"relu"`` =
:math:`\mathbf 1\{x>0\}`, ``"clipped_relu"`` = :math:`\mathbf 1\{0<x\le 1\}`, ``"identity"`` = 1).

:math:`w` and :math:`v` are the weights of two bias-free ``nn.Linear`` layers (``w_layer``:
n -> 1 applied to each row of Z; ``v_layer``: m -> 1), so :func:`qopt.quantize_model` can mark
them for weight quantization like any other layer.

SOURCE: STE paper (Yin et al. 2019b, ICLR 2019 submission) §2;
``docs/math/two-layer-model.md#model``. :math:`\sigma` with its STE is BCGD's
quantized ReLU at 1 bit with α = 1 (ceil forward: levels {0, α}, x > 0 -> α), i.e.
``qopt.nn.QuantReLU(bits=1, alpha=1.0, forward="ceil", ste=ste)``
(``docs/math/activation-quantizers.md#bcgd-quantizer``).
"""

from __future__ import annotations

import torch
from torch import nn

from theory._validate import check_dims
from theory.proxies import PROXIES as STES


class TwoLayer(nn.Module):
    """:math:`y = v^\\top \\sigma(Zw)` for a batch ``Z`` of shape (B, m, n); returns (B,).

    Args:
        m: number of rows of Z (hidden units, size of v).
        n: input dimension (size of w).
        ste: straight-through proxy of :math:`\\sigma'` (``relu``, ``clipped_relu``, ``identity``).
        activation: optional module replacing the default binary activation.
    """

    def __init__(self, m: int, n: int, ste: str = "relu", activation: nn.Module | None = None):
        super().__init__()
        check_dims(m=m, n=n)
        if ste not in STES:
            raise ValueError(f"ste must be one of {STES}, got {ste!r}")
        self.m, self.n = m, n
        self.w_layer = nn.Linear(n, 1, bias=False)
        self.v_layer = nn.Linear(m, 1, bias=False)
        if activation is None:
            from qopt.nn import QuantReLU  # ENGINE-B's quantized ReLU: 1 bit, α = 1, ceil

            activation = QuantReLU(bits=1, alpha=1.0, forward="ceil", ste=ste)
        self.act = activation

    @property
    def w(self) -> torch.Tensor:
        """The first-layer weight vector w, shape (n,)."""
        return self.w_layer.weight[0]

    @property
    def v(self) -> torch.Tensor:
        """The second-layer weight vector v, shape (m,)."""
        return self.v_layer.weight[0]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 3 or z.shape[1:] != (self.m, self.n):
            raise ValueError(f"input must have shape (B, {self.m}, {self.n}), got "
                             f"{tuple(z.shape)}")
        h = self.act(self.w_layer(z).squeeze(-1))  # (B, m)
        return self.v_layer(h).squeeze(-1)
