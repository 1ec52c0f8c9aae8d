r"""BinaryRelax (Yin, Zhang, Lyu, Osher, Qi, Xin; SIAM J. Imaging Sci. 11(4), 2018).

Phase I trains at the relaxed point, the exact prox of the Moreau envelope
:math:`\tfrac{\lambda}{2}\operatorname{dist}(\cdot, Q)^2` at w (Yin et al. 2018, §2; derivation
in :mod:`theory.envelope`):

.. math:: u = \frac{w + \lambda P_Q(w)}{1 + \lambda}, \qquad
          w \leftarrow \mathrm{base\_step}\big(w,\ \nabla\tilde f(u)\big),

with λ growing (continuation); Phase II trains at :math:`u = P_Q(w)` (BinaryConnect).

Schedule: :math:`\lambda \leftarrow \text{growth}\cdot\lambda` at the start of each ``per`` unit,
so that during unit k :math:`\lambda = \lambda_0\,\text{growth}^{k+1}` (released code
penhunt/binaryrelax ``util/train_net.py``: ``eta`` = 1, ``eta_rate`` = 1.04, multiplied at the
start of every epoch). Phase II from ``phase2_at`` completed ``phase2_unit`` units on
(``None`` = never; the released code switches at epoch 150 of 200).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from qopt.methods.base import RunLength, StepView, check_at, check_unit, epoch_of_unit
from theory._validate import check_positive_scalar

__all__ = ["BinaryRelax", "BinaryRelaxState"]


@dataclass
class BinaryRelaxState:
    """λ of the current unit and the phase (1 relaxed, 2 exact)."""

    lam: float
    phase: int


@dataclass(frozen=True)
class BinaryRelax:
    r"""BinaryRelax (module docstring).

    Args:
        lam0: λ0 > 0. growth: factor ≥ 1 per ``per`` unit. per: ``"epoch"`` or ``"step"``.
        phase2_at: None or an int ≥ 0. phase2_unit: ``"epoch"`` or ``"step"``.
    """

    lam0: float = field(default=1.0, metadata={"help": "initial λ0 > 0"})
    growth: float = field(default=1.04, metadata={"help": "factor ≥ 1 on λ per unit"})
    per: str = field(default="epoch", metadata={"help": "λ schedule unit: 'epoch' or 'step'"})
    phase2_at: int | None = field(default=None,
                                  metadata={"help": "units before Phase II (None = never)"})
    phase2_unit: str = field(default="epoch",
                             metadata={"help": "unit of phase2_at: 'epoch' or 'step'"})

    name: ClassVar[str] = "binaryrelax"

    def __post_init__(self) -> None:
        object.__setattr__(self, "lam0", check_positive_scalar(self.lam0, "lam0"))
        g = check_positive_scalar(self.growth, "growth")
        if g < 1.0:
            raise ValueError(f"growth must be >= 1 (continuation increases λ), got {g}")
        object.__setattr__(self, "growth", g)
        object.__setattr__(self, "per", check_unit(self.per, "per"))
        object.__setattr__(self, "phase2_unit", check_unit(self.phase2_unit, "phase2_unit"))
        object.__setattr__(self, "phase2_at", check_at(self.phase2_at, "phase2_at"))

    def _phase(self, steps: int, epochs: int) -> int:
        if self.phase2_at is None:
            return 1
        count = epochs if self.phase2_unit == "epoch" else steps
        return 2 if count >= self.phase2_at else 1

    def init_state(self, run: RunLength) -> BinaryRelaxState:
        return BinaryRelaxState(lam=self.lam0 * self.growth, phase=self._phase(0, 0))

    def advance(self, state: BinaryRelaxState, unit: str, steps: int, epochs: int) -> None:
        if unit == self.per:
            state.lam = state.lam * self.growth
        state.phase = self._phase(steps, epochs)

    def exact(self, state: BinaryRelaxState) -> bool:
        return state.phase == 2

    def start(self, state: BinaryRelaxState, view: StepView) -> None:
        import torch

        torch._foreach_copy_(view.params, view.latents)

    def forward(self, state: BinaryRelaxState, view: StepView) -> None:
        """params <- (w + λ·P(w)) / (1 + λ) in Phase I (params hold P(w) on entry)."""
        import torch

        if state.phase == 1 and view.params:
            torch._foreach_mul_(view.params, state.lam)
            torch._foreach_add_(view.params, view.latents)
            torch._foreach_div_(view.params, 1.0 + state.lam)

    def scalars(self, state: BinaryRelaxState) -> dict[str, float]:
        return {"lam": float(state.lam), "phase": float(state.phase)}

    def phase2_epoch(self, run: RunLength) -> int | None:
        return epoch_of_unit(self.phase2_at, self.phase2_unit, run)
