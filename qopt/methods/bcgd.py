r"""Blended coarse gradient descent (BCGD; Yin, Zhang, Lyu, Osher, Qi, Xin 2019).

.. math:: u_t = P_Q(w_t), \qquad
          w_{t+1} = \mathrm{base\_step}\big((1-\rho)\,w_t + \rho\,u_t,\ \nabla\tilde f(u_t)\big)

in the order of the released code (penhunt/full-quantization-DNN ``BCGD_cifar/util/quant.py``
``optimization_step``): G <- P(W); forward/backward at G; W <- (1-ρ)W + ρG; ``optimizer.step()``
(so weight decay and momentum act on the blended W). Sufficient descent holds for η < ρ/L (Yin et
al. 2019, Theorem 1 for the blended update; L the gradient's Lipschitz constant).

Schedule: after each ``per`` unit, :math:`\rho \leftarrow \min(\rho\cdot\text{rho\_growth},
\rho_{max})`. The released README demo uses a constant ρ = 1e-5 (``rho_rate`` = 1), the default
here; ``train_net_alpha.py`` grows ρ ×1.01 per epoch up to 0.01 (``BCGD(rho_growth=1.01)``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from qopt.methods.base import RunLength, StepView, check_unit
from theory._validate import check_finite_scalar, check_positive_scalar

__all__ = ["BCGD", "BCGDState"]


@dataclass
class BCGDState:
    """ρ of the current step."""

    rho: float


@dataclass(frozen=True)
class BCGD:
    r"""BCGD (module docstring).

    Args:
        rho: initial ρ in [0, rho_max]. rho_growth: factor ≥ 1 per ``per`` unit.
        rho_max: cap in (0, 1]. per: ``"epoch"`` or ``"step"``.
    """

    rho: float = field(default=1e-5, metadata={"help": "blend weight ρ of P(w) in [0, rho_max]"})
    rho_growth: float = field(default=1.0, metadata={"help": "factor ≥ 1 on ρ after each unit"})
    rho_max: float = field(default=0.01, metadata={"help": "cap on ρ, in (0, 1]"})
    per: str = field(default="epoch", metadata={"help": "schedule unit: 'epoch' or 'step'"})

    name: ClassVar[str] = "bcgd"

    def __post_init__(self) -> None:
        rho = check_finite_scalar(self.rho, "rho")
        rmax = check_positive_scalar(self.rho_max, "rho_max")
        if rmax > 1.0:
            raise ValueError(f"rho_max must be in (0, 1], got {rmax}")
        if not 0.0 <= rho <= rmax:
            raise ValueError(f"rho must be in [0, rho_max={rmax}], got {rho}")
        g = check_positive_scalar(self.rho_growth, "rho_growth")
        if g < 1.0:
            raise ValueError(f"rho_growth must be >= 1, got {g}")
        object.__setattr__(self, "rho", rho)
        object.__setattr__(self, "rho_max", rmax)
        object.__setattr__(self, "rho_growth", g)
        object.__setattr__(self, "per", check_unit(self.per, "per"))

    def init_state(self, run: RunLength) -> BCGDState:
        return BCGDState(rho=self.rho)

    def advance(self, state: BCGDState, unit: str, steps: int, epochs: int) -> None:
        if unit == self.per:
            state.rho = min(state.rho * self.rho_growth, self.rho_max)

    def exact(self, state: BCGDState) -> bool:
        return True

    def start(self, state: BCGDState, view: StepView) -> None:
        """params <- (1-ρ)·w + ρ·u (params hold u = P(w) here)."""
        import torch

        if state.rho > 0:
            blend = torch._foreach_mul(view.latents, 1.0 - state.rho)
            torch._foreach_add_(blend, view.params, alpha=state.rho)
            torch._foreach_copy_(view.params, blend)
        else:
            torch._foreach_copy_(view.params, view.latents)

    def forward(self, state: BCGDState, view: StepView) -> None:
        return None

    def scalars(self, state: BCGDState) -> dict[str, float]:
        return {"rho": float(state.rho), "phase": 2.0}

    def phase2_epoch(self, run: RunLength) -> int | None:
        return None  # exact from the first step: no phase switch
