r"""The method protocol: what :class:`qopt.QuantOptimizer` asks of a training method.

A method is one frozen dataclass (its configuration: validated, hashable, its fields are the
accepted config keys) that owns its whole step. Notation: w = latent float weights, P = P_Q the
exact projection (kept by the optimizer: scale, codes and q = P(w)), u = the forward point (what
the model's parameters hold; the gradient g is taken there), η = learning rate.

One optimizer step, as :class:`~qopt.QuantOptimizer` drives it::

    method.start(state, view)        # params <- the point the base step starts from
                                     #   (w; BCGD: (1-ρ)w + ρu; ProxQuant: u)
    base.step()                      # on params, with the gradient taken at u
    w <- params                      # (skipped on device for a non-finite step)
    method.advance(state, "step", counters)    # schedules; also "epoch" at epoch ends
    params <- P(w)                   # the optimizer's one projection, kept for reuse
    method.forward(state, view)      # params <- u from (w, P(w)); a no-op when exact(state)

Protocol (:class:`QuantMethod`)::

    name: ClassVar[str]                                  # registry name
    def init_state(self, run: RunLength) -> State        # typed state (a mutable dataclass)
    def advance(self, state, unit: str, steps: int, epochs: int) -> None
    def exact(self, state) -> bool                       # forward point is P(w)
    def start(self, state, view: StepView) -> None
    def forward(self, state, view: StepView) -> None
    def scalars(self, state) -> dict[str, float]         # λ / ρ / inv_slope / phase for logs
    def phase2_epoch(self, run: RunLength) -> int | None

The state is a dataclass of plain Python numbers, so ``dataclasses.asdict`` is its state dict
and loading is ``State(**d)``. This module and every method's configuration import without torch
(the CLI builds ``--help`` from them); tensor work imports torch inside the functions that do it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

from theory._validate import check_choice, check_finite_scalar, check_int

__all__ = ["UNITS", "QuantMethod", "RunLength", "StepView", "check_unit", "check_frac",
           "check_at", "phase2_start", "epoch_of_unit", "NO_STATE"]

#: Schedule units: a schedule advances once per epoch or once per optimizer step.
UNITS: tuple[str, ...] = ("epoch", "step")


@dataclass(frozen=True)
class RunLength:
    """The run's length as :class:`~qopt.QuantOptimizer` knows it (None = not given)."""

    epochs: int | None = None
    steps_per_epoch: int | None = None

    def units(self, per: str) -> int | None:
        """Total number of ``per`` units of the run, or None when unknown."""
        if self.epochs is None:
            return None
        if per == "epoch":
            return self.epochs
        return None if self.steps_per_epoch is None else self.epochs * self.steps_per_epoch


@dataclass
class StepView:
    """The tensors a method reads and writes, aligned by quantized tensor (entry).

    ``params`` (the model's parameters) hold q = P(w) when :meth:`QuantMethod.forward` is called;
    ``scales[i]`` is the per-slice scale (C,) in the compute dtype, ``codes(i)`` the int64 code
    tensor (shape of the parameter), ``levels[i]`` the unit levels (compute dtype, on the device),
    ``axes[i]`` the projection axis and ``lrs[i]`` the learning rate of the entry's group.
    """

    params: list[Any]
    latents: list[Any]
    scales: list[Any]
    levels: list[Any]
    axes: list[int | None]
    lrs: list[Any]
    codes: Any  # callable: i -> int64 codes of entry i
    #: callable i -> entry i's scale broadcastable against its parameter (per slice, or per
    #: entry for group-wise scales), and i -> its zero point per entry (affine sets) or None;
    #: the targets are then ``scale_map(i) * (levels[i][codes] - offset(i))``
    scale_map: Any = None
    offset: Any = None


@runtime_checkable
class QuantMethod(Protocol):
    """A training method driven by :class:`~qopt.QuantOptimizer` (module docstring)."""

    name: ClassVar[str]

    def init_state(self, run: RunLength) -> Any: ...

    def advance(self, state: Any, unit: str, steps: int, epochs: int) -> None: ...

    def exact(self, state: Any) -> bool: ...

    def start(self, state: Any, view: StepView) -> None: ...

    def forward(self, state: Any, view: StepView) -> None: ...

    def scalars(self, state: Any) -> dict[str, float]: ...

    def phase2_epoch(self, run: RunLength) -> int | None: ...


@dataclass
class _NoState:
    """State of a method without a schedule (BinaryConnect)."""


NO_STATE = _NoState


def check_unit(x: object, name: str) -> str:
    """``"epoch"`` or ``"step"``."""
    return check_choice(x, name, UNITS)


def check_frac(x: object, name: str) -> float | None:
    """None, or a fraction of the run in [0, 1]."""
    if x is None:
        return None
    v = check_finite_scalar(x, name)
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"{name} must be None or a fraction of the run in [0, 1], got {v}")
    return v


def check_at(x: object, name: str) -> int | None:
    """None, or a unit index >= 0."""
    return None if x is None else check_int(x, name, 0, 2**62)


def phase2_start(method: Any, run: RunLength, frac: float | None, at: int | None,
                 per: str, at_name: str = "phase2_at") -> int | None:
    """Unit index at which a phase starts: ``at`` when given, else ``round(frac * units)``, else
    None (never). Raises ValueError naming the method when ``frac`` needs an unknown run length."""
    if at is not None:
        return at
    if frac is None:
        return None
    total = run.units(per)
    if total is None:
        need = "epochs=E" if per == "epoch" else "epochs=E and steps_per_epoch=S"
        raise ValueError(
            f"{type(method).__name__}: a schedule given as a fraction of the run needs its "
            f"length: pass QuantOptimizer(..., {need}), or give the unit index explicitly "
            f"({at_name}=...)")
    return int(round(frac * total))


def epoch_of_unit(k: int | None, per: str, run: RunLength) -> int | None:
    """First epoch whose start lies at or after unit ``k`` (an epoch index for ``per='epoch'``;
    ceil(k / steps_per_epoch) for ``per='step'``), or None."""
    if k is None:
        return None
    if per == "epoch":
        return k
    if run.steps_per_epoch is None:
        return None
    return int(math.ceil(k / run.steps_per_epoch))


def fields_of(cls: type) -> tuple[dataclasses.Field, ...]:
    """The dataclass fields of a method's configuration (its accepted keys)."""
    return dataclasses.fields(cls)
