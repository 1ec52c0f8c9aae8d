r"""ProxQuant: proximal gradient with the W-shaped regularizer (Bai, Wang, Liberty; ICLR 2019).

Algorithm 1 of the paper, :math:`\theta_{t+1} = \operatorname{prox}_{\eta_t\lambda_t R}(\theta_t -
\eta_t\nabla\tilde L(\theta_t))`, with :math:`R(\theta) = \sum_i \min_k|\theta_i - t_k|` (L1
distance to the targets :math:`t = \alpha L`, here the set's levels at the exact projection's
scale of the iterate, per slice). In this engine's terms the forward point is the prox and the
base step *starts from it* (ProxQuant is not lazy: no separate latent accumulates):

.. math:: u = q + \operatorname{sign}(w - q)\max(|w - q| - \eta\lambda, 0),\quad q = P_Q(w),
          \qquad w \leftarrow \mathrm{base\_step}\big(u,\ \nabla\tilde f(u)\big),

the exact prox of :math:`\eta\lambda R` for the targets at the current scale (derivation and
brute-force check: :mod:`theory.proxquant`), η the group's current learning rate.

Schedule: :math:`\lambda_k` = ``lam_rate``·k during the k-th ``per`` unit (the paper's linearly
increasing λ_t; released code: ``br = reg_rate * epoch``); ``lam_rate=None`` derives it so that λ
reaches ``lam_max`` at the start of Phase II. Phase II (from ``round(phase2_frac * units)``, or
``phase2_at`` units) trains at u = P(w) (BinaryConnect).

Differences from the released code (allenbai01/ProxQuant ``main_binary_reg.py``, ``reg.py``): it
binarizes to fixed ±1 with weights clipped to [-1, 1] (use a fixed-scale set, e.g. ``grid:-1,1``,
for that regularizer; there is no clip here), its ternary variant is the squared-L2 prox
``(p + reg·q)/(1 + reg)`` with TWN thresholds (that is BinaryRelax's relaxed point, see
:class:`~qopt.methods.binaryrelax.BinaryRelax`), and at ``freeze_epoch`` it quantizes and *stops
training* the quantized weights, where Phase II here keeps training them as BinaryConnect. The
released binary run (ResNet-20, Adam lr 0.01, 300 epochs) is
``ProxQuant(lam_rate=1e-4, phase2_at=200)``.
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
from theory._validate import check_optional_positive, check_positive_scalar

__all__ = ["ProxQuant", "ProxQuantState"]


@dataclass
class ProxQuantState:
    """λ of the current unit, the resolved λ rate, Phase II start (units) and the phase."""

    lam: float
    rate: float
    start2: int | None
    phase: int


@dataclass(frozen=True)
class ProxQuant:
    """ProxQuant (module docstring).

    Args:
        lam_max: λ at the start of Phase II (used when ``lam_rate`` is None).
        lam_rate: λ increment per ``per`` unit (None: lam_max / Phase-II start).
        per: ``"epoch"`` or ``"step"``. phase2_frac: Phase II at this fraction of the run.
        phase2_at: Phase II at this unit (overrides ``phase2_frac``); both None = never.
    """

    lam_max: float = field(default=0.01, metadata={"help": "λ at the start of Phase II"})
    lam_rate: float | None = field(default=None,
                                   metadata={"help": "λ increment per unit (None: derived)"})
    per: str = field(default="epoch", metadata={"help": "schedule unit: 'epoch' or 'step'"})
    phase2_frac: float | None = field(default=0.75,
                                      metadata={"help": "Phase II at this run fraction"})
    phase2_at: int | None = field(default=None, metadata={"help": "Phase II at this unit"})

    name: ClassVar[str] = "proxquant"

    def __post_init__(self) -> None:
        object.__setattr__(self, "lam_max", check_positive_scalar(self.lam_max, "lam_max"))
        object.__setattr__(self, "lam_rate", check_optional_positive(self.lam_rate, "lam_rate"))
        object.__setattr__(self, "per", check_unit(self.per, "per"))
        object.__setattr__(self, "phase2_frac", check_frac(self.phase2_frac, "phase2_frac"))
        object.__setattr__(self, "phase2_at", check_at(self.phase2_at, "phase2_at"))

    def _start2(self, run: RunLength) -> int | None:
        return phase2_start(self, run, self.phase2_frac, self.phase2_at, self.per)

    def init_state(self, run: RunLength) -> ProxQuantState:
        k2 = self._start2(run)
        rate = self.lam_rate
        if rate is None:
            if not k2:
                raise ValueError("ProxQuant(lam_rate=None) derives the λ rate from Phase II's "
                                 "start, which is never or at unit 0 here: give lam_rate")
            rate = self.lam_max / k2
        return ProxQuantState(lam=0.0, rate=rate, start2=k2,
                              phase=2 if k2 is not None and k2 <= 0 else 1)

    def advance(self, state: ProxQuantState, unit: str, steps: int, epochs: int) -> None:
        if unit == self.per:
            k = steps if unit == "step" else epochs
            state.lam = state.rate * k
            state.phase = 2 if state.start2 is not None and k >= state.start2 else 1

    def exact(self, state: ProxQuantState) -> bool:
        return state.phase == 2

    def start(self, state: ProxQuantState, view: StepView) -> None:
        """Phase I: the base step starts from u (params already hold it). Phase II: from w."""
        if state.phase == 2:
            import torch

            torch._foreach_copy_(view.params, view.latents)

    def forward(self, state: ProxQuantState, view: StepView) -> None:
        """params <- q + sign(w - q)·max(|w - q| - ηλ, 0) (params hold q = P(w) on entry)."""
        if state.phase == 2 or not view.params:
            return
        import torch

        if state.lam == 0.0:
            torch._foreach_copy_(view.params, view.latents)
            return
        taus = [lr * state.lam for lr in view.lrs]
        d = torch._foreach_sub(view.latents, view.params)
        sign = torch._foreach_sign(d)
        torch._foreach_abs_(d)
        if all(not torch.is_tensor(t) for t in taus):
            torch._foreach_sub_(d, [float(t) for t in taus])
        else:
            for x, t in zip(d, taus):
                x.sub_(t)
        torch._foreach_clamp_min_(d, 0.0)
        torch._foreach_mul_(d, sign)
        torch._foreach_add_(view.params, d)

    def scalars(self, state: ProxQuantState) -> dict[str, float]:
        return {"lam": float(state.lam), "phase": float(state.phase)}

    def phase2_epoch(self, run: RunLength) -> int | None:
        return epoch_of_unit(self._start2(run), self.per, run)
