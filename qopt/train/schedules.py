r"""The papers' learning-rate schedules, as per-epoch multiplicative factors.

For base rate :math:`\eta_0` and epoch :math:`e = 0, 1, \dots, E-1` the rate is
:math:`\eta_e = \eta_0\,\phi(e)` with

- ``constant``:  :math:`\phi = 1`;
- ``multistep``: :math:`\phi(e) = \gamma^{\#\{m \in M : m \le e\}}` (torch ``MultiStepLR``);
  BinaryRelax/BCGD released codes: :math:`M = \{80, 140\}`, :math:`\gamma = 0.1`, E = 200;
- ``cosine``: :math:`\phi(e) = \tfrac12(1 + \cos(\pi e / E))` (``CosineAnnealingLR``,
  :math:`T_{max} = E`, :math:`\eta_{min} = 0`; released UniQ code);
- ``warmup_cosine``: :math:`\phi(e) = \eta_w/\eta_0` for :math:`e < W`, then cosine over the
  remaining :math:`E - W` epochs from :math:`\eta_0` (UniQ binary warm-up: constant 1e-3 for 5
  epochs, released UniQ code ``lr_scheduler.py`` ``ConstantWarmupScheduler``).

Phase-II factor: with ``phase2_epoch = P`` (the epoch where the method's Phase II starts) and
``phase2_scale = s``, :math:`\eta_e = \eta_0\,\phi(e)\,s^{[e \ge P]}`: one extra drop when the
exact-quantization phase starts (the released BinaryRelax code reaches Phase II at lr 1e-3 by
its multistep schedule; here the drop is tied to the method's own Phase-II epoch).

The scheduler is a ``LambdaLR`` over a picklable factor object, stepped once per epoch, so its
``state_dict`` round-trips through checkpoints.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from qopt.train.fields import SCHEDULES


@dataclass(frozen=True)
class EpochFactor:
    """:math:`\\phi(e)` of one schedule (see the module docstring)."""

    kind: str
    epochs: int
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    warmup_epochs: int = 0
    warmup_factor: float = 1.0
    phase2_epoch: int | None = None
    phase2_scale: float = 1.0

    def __call__(self, epoch: int) -> float:
        drop = self.phase2_scale if (self.phase2_epoch is not None
                                     and epoch >= self.phase2_epoch) else 1.0
        return self.base(epoch) * drop

    def base(self, epoch: int) -> float:
        """:math:`\\phi(e)` without the Phase-II factor."""
        if self.kind == "constant":
            return 1.0
        if self.kind == "multistep":
            return self.gamma ** sum(1 for m in self.milestones if m <= epoch)
        if self.kind == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * min(epoch, self.epochs) / self.epochs))
        if epoch < self.warmup_epochs:
            return self.warmup_factor
        t, span = epoch - self.warmup_epochs, max(1, self.epochs - self.warmup_epochs)
        return 0.5 * (1.0 + math.cos(math.pi * min(t, span) / span))


def check_schedule(kind: str, epochs: int, milestones: Sequence[int] = (), gamma: float = 0.1,
                   warmup_epochs: int = 0, warmup_lr: float | None = None) -> None:
    """``ValueError`` naming the bad schedule argument."""
    if kind not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {kind!r}")
    if not isinstance(epochs, int) or epochs <= 0:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    if kind == "multistep":
        ms = list(milestones)
        if not ms or any(not isinstance(m, int) or m <= 0 for m in ms) or ms != sorted(ms):
            raise ValueError(f"milestones must be increasing positive ints, got {milestones!r}")
        if not 0.0 < gamma <= 1.0:
            raise ValueError(f"gamma must be in (0, 1], got {gamma!r}")
    if kind == "warmup_cosine":
        if not isinstance(warmup_epochs, int) or not 0 <= warmup_epochs < epochs:
            raise ValueError(f"warmup_epochs must be an int in [0, epochs), got {warmup_epochs!r}")
        if warmup_lr is None or not warmup_lr > 0:
            raise ValueError(f"warmup_lr must be a positive float, got {warmup_lr!r}")


def build_scheduler(optimizer: Any, kind: str, epochs: int, base_lr: float,
                    milestones: Sequence[int] = (), gamma: float = 0.1, warmup_epochs: int = 0,
                    warmup_lr: float | None = None, *, phase2_epoch: int | None = None,
                    phase2_scale: float = 1.0) -> Any:
    """A per-epoch ``torch.optim.lr_scheduler.LambdaLR`` implementing ``kind`` (call
    ``.step()`` after every epoch), with the Phase-II factor of the module docstring."""
    import torch

    check_schedule(kind, epochs, milestones, gamma, warmup_epochs, warmup_lr)
    if not (isinstance(phase2_scale, (int, float)) and math.isfinite(phase2_scale)
            and phase2_scale > 0):
        raise ValueError(f"phase2_scale must be a positive finite number, got {phase2_scale!r}")
    factor = EpochFactor(kind, epochs, tuple(milestones), float(gamma), int(warmup_epochs),
                         (warmup_lr / base_lr) if warmup_lr else 1.0,
                         None if phase2_epoch is None else int(phase2_epoch),
                         float(phase2_scale))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
