r"""BinaryConnect: forward and backward at the exact projection, latent weights updated by the
base optimizer with that gradient.

.. math:: u_t = P_Q(w_t), \qquad w_{t+1} = \mathrm{base\_step}\big(w_t,\ \nabla\tilde f(u_t)\big)

Source: Courbariaux, Bengio, David 2015 (BinaryConnect, Algorithm 1, deterministic binarization,
here with any set Q and its exact scaled projection); it is BinaryRelax's Phase II (Yin et al.
2018, §3) and BCGD with ρ = 0 (Yin et al. 2019, eq. of the blended update).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from qopt.methods.base import NO_STATE, RunLength, StepView

__all__ = ["BinaryConnect"]


@dataclass(frozen=True)
class BinaryConnect:
    """BinaryConnect (module docstring). No arguments, no schedule, no run length needed."""

    name: ClassVar[str] = "binaryconnect"

    def init_state(self, run: RunLength) -> Any:
        return NO_STATE()

    def advance(self, state: Any, unit: str, steps: int, epochs: int) -> None:
        return None

    def exact(self, state: Any) -> bool:
        return True

    def start(self, state: Any, view: StepView) -> None:
        import torch

        torch._foreach_copy_(view.params, view.latents)

    def forward(self, state: Any, view: StepView) -> None:
        return None

    def scalars(self, state: Any) -> dict[str, float]:
        return {"phase": 2.0}

    def phase2_epoch(self, run: RunLength) -> int | None:
        return None  # exact from the first step: no phase switch
