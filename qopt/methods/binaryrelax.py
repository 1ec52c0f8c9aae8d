r"""BinaryRelax (Yin, Zhang, Lyu, Osher, Qi, Xin; SIAM J. Imaging Sci. 11(4), 2018).

Phase I trains at the relaxed point, the exact prox of the Moreau envelope
:math:`\tfrac{\lambda}{2}\operatorname{dist}(\cdot, Q)^2` at w (Yin et al. 2018, §2; derivation
in :mod:`theory.envelope`):

.. math:: u = \frac{w + \lambda P_Q(w)}{1 + \lambda}, \qquad
          w \leftarrow \mathrm{base\_step}\big(w,\ \nabla\tilde f(u)\big),

with λ growing (continuation); Phase II trains at :math:`u = P_Q(w)` (BinaryConnect).

Schedule (tied to the run): during the k-th ``per`` unit (k = 0, 1, ...)
:math:`\lambda = \lambda_0\,\text{growth}^k` — **lam0 is the λ of the first step** — computed by
one multiplication per unit, as the released code does (penhunt/binaryrelax
``util/train_net.py``: ``eta *= eta_rate`` at the start of every epoch, from ``eta`` = 1 with
``eta_rate`` = 1.04, so its epoch e uses 1.04^(e+1)). ``growth=None`` derives
:math:`\text{growth} = (\lambda_{max}/\lambda_0)^{1/k_2}` so that λ reaches ``lam_max`` at the
start of Phase II, unit :math:`k_2` = ``round(phase2_frac · units)`` (or ``phase2_at``; both None =
never). The default — λ from 1 to 360 over the first 3/4 of the run, then Phase II — follows the
released schedule in proportion (1.04^150 ≈ 360 at epoch 150 of 200) at any run length. The
released schedule itself is ``BinaryRelax(lam0=1.04, growth=1.04, phase2_at=150)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from qopt.methods.base import (
    RunLength,
    StepView,
    check_at,
    check_frac,
    check_unit,
    epoch_of_unit,
    phase2_start,
)
from theory._validate import check_positive_scalar

__all__ = ["BinaryRelax", "BinaryRelaxState"]


@dataclass
class BinaryRelaxState:
    """λ of the current unit, the resolved growth and Phase II start (units), the phase."""

    lam: float
    growth: float
    start2: int | None
    phase: int


@dataclass(frozen=True)
class BinaryRelax:
    r"""BinaryRelax (module docstring).

    Args:
        lam0: λ of the first step, > 0. lam_max: λ at the start of Phase II (with
            ``growth=None``), >= lam0. growth: factor >= 1 per ``per`` unit, or None (derived).
        per: ``"epoch"`` or ``"step"`` (unit of the λ schedule and of the Phase II start).
        phase2_frac: Phase II at this fraction of the run (needs the run length).
        phase2_at: Phase II at this unit (overrides ``phase2_frac``); both None = never.
    """

    lam0: float = field(default=1.0, metadata={"help": "λ of the first step (> 0)"})
    lam_max: float = field(default=360.0,
                           metadata={"help": "λ reached at Phase II when growth is None"})
    growth: float | None = field(default=None,
                                 metadata={"help": "factor ≥ 1 on λ per unit (None: derived)"})
    per: str = field(default="epoch", metadata={"help": "schedule unit: 'epoch' or 'step'"})
    phase2_frac: float | None = field(default=0.75,
                                      metadata={"help": "Phase II at this run fraction"})
    phase2_at: int | None = field(default=None,
                                  metadata={"help": "Phase II at this unit (overrides frac)"})

    name: ClassVar[str] = "binaryrelax"

    def __post_init__(self) -> None:
        object.__setattr__(self, "lam0", check_positive_scalar(self.lam0, "lam0"))
        object.__setattr__(self, "lam_max", check_positive_scalar(self.lam_max, "lam_max"))
        if self.growth is not None:
            g = check_positive_scalar(self.growth, "growth")
            if g < 1.0:
                raise ValueError(f"growth must be >= 1 (continuation increases λ), got {g}")
            object.__setattr__(self, "growth", g)
        elif self.lam_max < self.lam0:
            raise ValueError(f"lam_max must be >= lam0 (λ grows), got lam_max={self.lam_max}, "
                             f"lam0={self.lam0}")
        object.__setattr__(self, "per", check_unit(self.per, "per"))
        object.__setattr__(self, "phase2_frac", check_frac(self.phase2_frac, "phase2_frac"))
        object.__setattr__(self, "phase2_at", check_at(self.phase2_at, "phase2_at"))

    def init_state(self, run: RunLength) -> BinaryRelaxState:
        k2 = phase2_start(self, run, self.phase2_frac, self.phase2_at, self.per)
        g = self.growth
        if g is None:
            if not k2:
                raise ValueError("BinaryRelax(growth=None) derives the growth from Phase II's "
                                 "start, which is never or at unit 0 here: give growth")
            g = (self.lam_max / self.lam0) ** (1.0 / k2)
        return BinaryRelaxState(lam=self.lam0, growth=g, start2=k2,
                                phase=2 if k2 is not None and k2 <= 0 else 1)

    def advance(self, state: BinaryRelaxState, unit: str, steps: int, epochs: int) -> None:
        if unit == self.per:
            state.lam = state.lam * state.growth
            k = steps if unit == "step" else epochs
            state.phase = 2 if state.start2 is not None and k >= state.start2 else 1

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
        return epoch_of_unit(phase2_start(self, run, self.phase2_frac, self.phase2_at, self.per),
                             self.per, run)
