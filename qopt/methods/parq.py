r"""PARQ: the prox of a piecewise-affine regularizer with an annealed inverse slope (Jin, Ma,
Liu, Gromov, Defazio, Xiao; ICML 2025).

Forward point, with targets :math:`t = \alpha L` (the set's levels at the exact projection's
scale of w, per slice), inverse slope :math:`s \in [0, 1]` and, for w in :math:`[t_k, t_{k+1}]`,
:math:`c_k = (t_k + t_{k+1})/2`:

.. math:: u = \min\big(\max\big(c_k + (w - c_k)/s,\ t_k\big),\ t_{k+1}\big)
          \ (= t_1 \text{ below } t_1,\ t_m \text{ above } t_m), \qquad
          w \leftarrow \mathrm{base\_step}\big(w,\ \nabla\tilde f(u)\big).

This is :math:`\operatorname{prox}_{\gamma\psi}(w/s)`, :math:`\gamma = (1-s)/s`, of the convex PAR
ψ with slope :math:`c_k` between neighbouring targets (derivation and brute-force check:
:mod:`theory.parq`). s = 1 clamps w to the targets' range; at s = 0 the forward point is P(w)
(hard quantization: "Phase II", the straight-through estimator as PARQ's asymptotic form).

Schedule (released code facebookresearch/parq ``ProxPARQ``, ``normalized_mirror_sigmoid``):
s = 1 before the annealing window, :math:`s = (\sigma(-k(f-c)) - \sigma(-k/2))/(\sigma(k/2) -
\sigma(-k/2))` at fraction f of the window (steepness k, centre c; clipped to [0, 1]), 0 from its
end on; advanced per ``per`` unit. The window is given in units (``start_at``/``end_at``) or as
fractions of the run (default [0, 0.75]: the last quarter trains at P(w)).

Differences from the released code: the targets are the exact projection's scaled levels of the
current latent at every step (the released ``QuantOptimizer`` refreshes separately computed,
approximate targets — LSBQ/uniform quantizers — every ``quant_period`` = 10 steps); at s = 0 the
projection's tie rule applies (``bucketize`` on midpoints sends ties down there).
"""

from __future__ import annotations

import math
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
from theory._validate import check_finite_scalar, check_positive_scalar

__all__ = ["PARQ", "PARQState", "inv_slope"]


def inv_slope(t: int, t1: int, t2: int, steepness: float, center: float) -> float:
    """The annealed inverse slope at unit t (module docstring); 1 before t1, 0 from t2 on."""
    if t < t1:
        return 1.0
    if t >= t2:
        return 0.0
    f = (t - t1) / (t2 - t1)
    lo, hi = 1.0 / (1.0 + math.exp(0.5 * steepness)), 1.0 / (1.0 + math.exp(-0.5 * steepness))
    val = (1.0 / (1.0 + math.exp(steepness * (f - center))) - lo) / (hi - lo)
    return min(max(val, 0.0), 1.0)


@dataclass
class PARQState:
    """Inverse slope of the current unit, the resolved window [t1, t2) in units, the phase."""

    inv_slope: float
    t1: int
    t2: int
    phase: int


@dataclass(frozen=True)
class PARQ:
    """PARQ (module docstring).

    Args:
        start_frac, end_frac: annealing window as fractions of the run (need its length).
        start_at, end_at: the window in ``per`` units (override the fractions).
        steepness: k > 0 of the sigmoid. center: c in [0, 1]. per: ``"step"`` or ``"epoch"``.
    """

    start_frac: float | None = field(default=0.0,
                                     metadata={"help": "annealing starts at this run fraction"})
    end_frac: float | None = field(default=0.75,
                                   metadata={"help": "s reaches 0 (P(w)) at this run fraction"})
    start_at: int | None = field(default=None, metadata={"help": "window start in units"})
    end_at: int | None = field(default=None, metadata={"help": "window end in units"})
    steepness: float = field(default=10.0, metadata={"help": "sigmoid steepness k > 0"})
    center: float = field(default=0.5, metadata={"help": "sigmoid centre in [0, 1]"})
    per: str = field(default="step", metadata={"help": "schedule unit: 'step' or 'epoch'"})

    name: ClassVar[str] = "parq"

    def __post_init__(self) -> None:
        for k in ("start_frac", "end_frac"):
            object.__setattr__(self, k, check_frac(getattr(self, k), k))
        for k in ("start_at", "end_at"):
            object.__setattr__(self, k, check_at(getattr(self, k), k))
        object.__setattr__(self, "steepness", check_positive_scalar(self.steepness, "steepness"))
        c = check_finite_scalar(self.center, "center")
        if not 0.0 <= c <= 1.0:
            raise ValueError(f"center must be in [0, 1], got {c}")
        object.__setattr__(self, "center", c)
        object.__setattr__(self, "per", check_unit(self.per, "per"))

    def _window(self, run: RunLength) -> tuple[int, int]:
        t1 = phase2_start(self, run, self.start_frac, self.start_at, self.per, "start_at")
        t2 = phase2_start(self, run, self.end_frac, self.end_at, self.per, "end_at")
        if t1 is None or t2 is None:
            raise ValueError("PARQ needs an annealing window: give start_at/end_at or "
                             "start_frac/end_frac (not None)")
        if t2 < t1:
            raise ValueError(f"PARQ: the annealing window ends (unit {t2}) before it starts "
                             f"(unit {t1})")
        return t1, t2

    def _at(self, k: int, t1: int, t2: int) -> float:
        return inv_slope(k, t1, t2, self.steepness, self.center)

    def init_state(self, run: RunLength) -> PARQState:
        t1, t2 = self._window(run)
        s = self._at(0, t1, t2)
        return PARQState(inv_slope=s, t1=t1, t2=t2, phase=2 if s == 0.0 else 1)

    def advance(self, state: PARQState, unit: str, steps: int, epochs: int) -> None:
        if unit == self.per:
            state.inv_slope = self._at(steps if unit == "step" else epochs, state.t1, state.t2)
            state.phase = 2 if state.inv_slope == 0.0 else 1

    def exact(self, state: PARQState) -> bool:
        return state.phase == 2

    def start(self, state: PARQState, view: StepView) -> None:
        import torch

        torch._foreach_copy_(view.params, view.latents)

    def forward(self, state: PARQState, view: StepView) -> None:
        """params <- M_s(w) (params hold P(w) on entry; unchanged at s = 0)."""
        if state.phase == 2:
            return
        import torch

        s = state.inv_slope
        for i, (p, w) in enumerate(zip(view.params, view.latents)):
            lv, codes, alpha = view.levels[i], view.codes(i), view.scales[i]
            off = None
            if view.scale_map is not None:  # per slice or per block; affine zero points
                a, off = view.scale_map(i), view.offset(i)
            elif view.axes[i] is None:
                a = alpha[0]
            else:
                shape = [1] * w.dim()
                shape[view.axes[i]] = -1
                a = alpha.reshape(shape)
            wc = w.to(lv.dtype)
            tq = a * (lv[codes] if off is None else lv[codes] - off)
            nb = torch.where(wc >= tq, codes + 1, codes - 1).clamp_(0, lv.numel() - 1)
            tn = a * (lv[nb] if off is None else lv[nb] - off)
            lo, hi = torch.minimum(tq, tn), torch.maximum(tq, tn)
            c = (lo + hi) / 2
            p.copy_(torch.minimum(torch.maximum(c + (wc - c) / s, lo), hi))

    def scalars(self, state: PARQState) -> dict[str, float]:
        return {"inv_slope": float(state.inv_slope), "phase": float(state.phase)}

    def phase2_epoch(self, run: RunLength) -> int | None:
        return epoch_of_unit(self._window(run)[1], self.per, run)
