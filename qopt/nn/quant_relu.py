r"""``QuantReLU``: the b-bit quantized ReLU module (BCGD's activation quantizer and variants).

Wraps :func:`qopt.nn.ste.quant_relu` (forward, STE and α-gradient formulas there) and holds the
step α: a buffer when fixed, an ``nn.Parameter`` named ``alpha`` when learned (so
:func:`qopt.param_groups` can exempt it from weight decay with ``no_decay=("alpha",)``, as UniQ's
``add_weight_decay`` and BCGD's separate ``optimizer_a``).

SOURCE: BCGD code ``nets/quant_uni_type.py`` (``QtUni``, ``QtUniFunction``);
``docs/math/activation-quantizers.md#bcgd-quantizer`` and
``docs/math/activation-quantizers.md#alpha-gradients``.
Deliberate deviations from that code: (1) when α is *not* learned, BCGD's backward overwrites α
with ``max|x| / M`` after every batch (a quirk; α is then data-driven, not fixed) — here a fixed α
stays fixed; (2) no upper clamp at 5 on α; (3) the α-gradient rate defaults to 1 and is not
clipped (pass ``alpha_grad_rate=0.01, alpha_grad_clip=1.0`` for the released behaviour).
"""

from __future__ import annotations

import torch
from torch import nn

from qopt.nn.constants import ALPHA_INITS, quant_relu_alpha
from qopt.nn.ste import ALPHA_GRADS, FORWARDS, STES, quant_relu
from theory._validate import (
    check_bits,
    check_bool,
    check_choice,
    check_optional_positive,
    check_positive_scalar,
)

__all__ = ["QuantReLU"]


class QuantReLU(nn.Module):
    r"""b-bit quantized ReLU :math:`\sigma(x, \alpha)` with a chosen coarse gradient.

    Args:
        bits: b in 1..16; levels :math:`\{0, \alpha, \dots, (2^b-1)\alpha\}`.
        alpha: initial (or fixed) step α > 0; None = the Gaussian-optimal constant for ``bits``
            chosen by ``init`` (:func:`qopt.nn.constants.quant_relu_alpha`).
        forward: ``"ceil"`` (BCGD, ``docs/math/activation-quantizers.md#bcgd-quantizer``) or
            ``"round"`` (round to nearest).
        ste: x-gradient proxy ``"clipped_relu"`` (1{0 < x <= Mα}), ``"relu"`` or ``"identity"``.
        alpha_grad: α-gradient surrogate ``"mean"``, ``"ae"``, ``"min"``, ``"pact"``, ``"lsq"``;
            None = ``"mean"`` for ceil, ``"lsq"`` for round. Used only when ``learn_alpha``.
        learn_alpha: make α an ``nn.Parameter`` trained through the surrogate gradient.
        init: ``"matched"`` | ``"round"`` | ``"bcgd"`` when ``alpha`` is None (constants module).
        alpha_grad_rate: multiplier r of the α-gradient (None: 1, or 1/√(N M) for ``"lsq"``).
        alpha_grad_clip: clamp of the α-gradient to [−c, c], or None.
        alpha_min: forward lower bound on α (BCGD: 1e-3).
        dtype, device: of α (default: torch's default dtype, CPU); α is cast to the input's
            dtype in the forward.

    Raises:
        ValueError/TypeError naming the argument for out-of-range bits, unknown choices,
        non-positive α, non-bool ``learn_alpha``.
    """

    def __init__(self, bits: int, alpha: float | None = None, forward: str = "ceil",
                 ste: str = "clipped_relu", alpha_grad: str | None = None,
                 learn_alpha: bool = False, *, init: str = "matched",
                 alpha_grad_rate: float | None = None, alpha_grad_clip: float | None = None,
                 alpha_min: float = 1e-3, dtype: torch.dtype | None = None,
                 device: torch.device | str | None = None) -> None:
        super().__init__()
        self.bits = check_bits(bits, "bits")
        self.forward_kind = check_choice(forward, "forward", FORWARDS)
        self.ste = check_choice(ste, "ste", STES)
        if alpha_grad is None:
            alpha_grad = "mean" if self.forward_kind == "ceil" else "lsq"
        self.alpha_grad = check_choice(alpha_grad, "alpha_grad", ALPHA_GRADS)
        self.learn_alpha = check_bool(learn_alpha, "learn_alpha")
        self.init = check_choice(init, "init", ALPHA_INITS)
        self.alpha_grad_rate = check_optional_positive(alpha_grad_rate, "alpha_grad_rate")
        self.alpha_grad_clip = check_optional_positive(alpha_grad_clip, "alpha_grad_clip")
        self.alpha_min = check_positive_scalar(alpha_min, "alpha_min")
        if alpha is None:
            alpha = quant_relu_alpha(self.bits, self.forward_kind, self.init)
        a0 = torch.tensor(check_positive_scalar(alpha, "alpha"), dtype=dtype, device=device)
        if self.learn_alpha:
            self.alpha = nn.Parameter(a0)
        else:
            self.register_buffer("alpha", a0)

    @property
    def levels(self) -> int:
        """M = 2^b − 1, the number of positive levels."""
        return 2 ** self.bits - 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """σ(x, α) with the configured straight-through backward."""
        return quant_relu(x, self.alpha, self.bits, self.forward_kind, self.ste,
                          self.alpha_grad if self.learn_alpha else None,
                          self.alpha_grad_rate, self.alpha_grad_clip, self.alpha_min)

    def extra_repr(self) -> str:
        grad = self.alpha_grad if self.learn_alpha else "fixed"
        return (f"bits={self.bits}, forward={self.forward_kind!r}, ste={self.ste!r}, "
                f"alpha_grad={grad!r}")
