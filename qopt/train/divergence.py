"""Stopping a diverged run: detection of non-finite losses without a per-step host sync, and
the error that names the step and the tensor.

The training loop keeps a device-side int64 ``first_bad`` (-1 = none): after every step
``first_bad = where(first_bad < 0 and not isfinite(loss), step, first_bad)``, one tiny kernel
and no synchronisation. It is read once per epoch (with the epoch's mean loss, which is read
anyway), before evaluation and before the checkpoint is written, so the checkpoint on disk is
always the last good one. A :class:`qopt.QuantOptimizer` with ``nonfinite="raise"`` (contract
C2) raises ``qopt.NonFiniteError`` (with ``.step`` and ``.tensor``) for a non-finite gradient or
latent weight at its next record step / epoch boundary; the trainer turns both into
:class:`TrainingDiverged`.
"""

from __future__ import annotations

from typing import Any

import torch


class TrainingDiverged(FloatingPointError):
    """A run produced a non-finite loss, gradient or weight, or (``nonfinite = "skip"``) skipped
    more than ``max_skip_frac`` of its steps or ended with a non-finite loss; nothing after the
    last good checkpoint was saved (no ``result.json``: the run is not finished).

    Attributes:
        step: the global step (1-based count of optimizer steps) where it was detected.
        tensor: what was non-finite (``"loss"``, ``"gradient of conv1.weight"``, ...).
        epoch: the epoch being trained.
        checkpoint: description of the last good checkpoint (or None when there is none).
        skipped: ``(skipped steps, steps so far)`` under ``nonfinite = "skip"``, else None.
    """

    def __init__(self, step: int | None, tensor: str, epoch: int,
                 checkpoint: str | None, *, skipped: tuple[int, int] | None = None,
                 reason: str | None = None) -> None:
        self.step, self.tensor, self.epoch, self.checkpoint = step, tensor, epoch, checkpoint
        self.skipped = skipped
        where = f"step {step}" if step is not None else "an unknown step"
        kept = (f"last good checkpoint kept: {checkpoint}" if checkpoint
                else "no checkpoint was written")
        what = reason or f"non-finite {tensor} at {where} (epoch {epoch})"
        count = f"{skipped_text(*skipped)}; " if skipped is not None else ""
        super().__init__(f"training diverged: {what}; {count}run stopped, {kept}")


def skipped_text(skipped: int, steps: int) -> str:
    """``"3 of 80 steps skipped (nonfinite=skip)"``."""
    return f"{skipped} of {steps} steps skipped (nonfinite=skip)"


def check_skip_share(skipped: int, planned: int, max_frac: float, step: int, epoch: int,
                     checkpoint: str | None) -> None:
    """Raise :class:`TrainingDiverged` once ``skipped`` exceeds ``max_frac * planned`` (the
    run's total steps): the share can only grow, so the run can no longer finish."""
    if skipped > max_frac * planned:
        raise TrainingDiverged(
            step, "steps", epoch, checkpoint, skipped=(skipped, step),
            reason=f"more than max_skip_frac = {max_frac:g} of the run's {planned} steps "
                   f"skipped for non-finite values (by epoch {epoch})")


def nonfinite_error_types() -> tuple[type[BaseException], ...]:
    """``(qopt.NonFiniteError,)`` when the engine provides it (contract C2), else ``()``."""
    import qopt

    t = getattr(qopt, "NonFiniteError", None)
    return (t,) if isinstance(t, type) else ()


class LossWatch:
    """Device-side record of non-finite losses (see the module docstring).

    ``policy="raise"``: :meth:`check` raises at the first non-finite loss. ``policy="skip"``
    (with ``QuantOptimizer(nonfinite="skip")``, which skips such steps on device): non-finite
    losses are counted, left out of the epoch's mean loss, and reported; the run goes on.
    """

    def __init__(self, device: torch.device, policy: str = "raise") -> None:
        self.policy = policy
        self.first_bad = torch.full((), -1, dtype=torch.int64, device=device)
        self.n_bad = torch.zeros((), dtype=torch.int64, device=device)

    def update(self, loss: torch.Tensor, step: int) -> torch.Tensor:
        """Record a non-finite ``loss`` (no host sync); returns the value to accumulate (0 for
        a non-finite loss under ``skip``)."""
        finite = torch.isfinite(loss)
        bad = (self.first_bad < 0) & ~finite
        self.first_bad = torch.where(bad, torch.full_like(self.first_bad, step), self.first_bad)
        if self.policy == "skip":
            self.n_bad += (~finite).to(torch.int64)
            return torch.where(finite, loss, torch.zeros_like(loss))
        return loss

    def check(self, epoch: int, checkpoint: str | None) -> int:
        """Raise :class:`TrainingDiverged` if a non-finite loss was seen (``raise``); return the
        number of non-finite (skipped) steps of the epoch (``skip``). One host sync."""
        if self.policy == "skip":
            return int(self.n_bad.item())
        s = int(self.first_bad.item())
        if s >= 0:
            raise TrainingDiverged(s, "loss", epoch, checkpoint)
        return 0


def from_engine_error(exc: Any, epoch: int, checkpoint: str | None) -> TrainingDiverged:
    """Wrap a ``qopt.NonFiniteError`` (``.step``, ``.tensor``) as :class:`TrainingDiverged`."""
    return TrainingDiverged(getattr(exc, "step", None), str(getattr(exc, "tensor", exc)),
                            epoch, checkpoint)
