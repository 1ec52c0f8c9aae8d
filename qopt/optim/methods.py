r"""The three training methods of :class:`qopt.QuantOptimizer` and their schedules.

Each method is a frozen dataclass (a typed config; validated at construction) plus pure schedule
rules acting on a small state dict ``{"lam", "rho", "phase", "steps", "epochs"}`` that the optimizer
stores in its ``state_dict`` (so resuming is bit-identical: λ and ρ are updated by the same float
multiplications in the same order).

Notation: w = latent (float) weights, P = P_Q the exact projection, u = the point where the forward
and backward pass run (what the model's parameters hold), g = ∇̃f(u), η = learning rate.

=================  =====================================================  =====================
method              forward point u and latent update                      source
=================  =====================================================  =====================
``BinaryConnect``   u = P(w);  w ← base_step(w, g)                          BRc Phase II
``BinaryRelax``     phase I: u = (w + λP(w))/(1+λ) (= prox of (λ/2)d²);    papers.md §B, BRc
                    phase II: u = P(w);  w ← base_step(w, g)
``BCGD``            u = P(w);  w ← base_step((1-ρ)w + ρu, g)                papers.md §C1, BCc
=================  =====================================================  =====================
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

__all__ = ["BinaryConnect", "BinaryRelax", "BCGD", "Method", "as_method", "initial_state",
           "after_step", "after_epoch", "relaxed"]


def _pos(x: object, name: str) -> float:
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(x).__name__}")
    x = float(x)
    if not math.isfinite(x) or x <= 0:
        raise ValueError(f"{name} must be finite and > 0, got {x}")
    return x


def _unit(x: object, name: str) -> str:
    if x not in ("epoch", "step"):
        raise ValueError(f"{name} must be 'epoch' or 'step', got {x!r}")
    return str(x)


@dataclass(frozen=True)
class BinaryConnect:
    r"""BinaryConnect: forward/backward at :math:`u_t = P_Q(w_t)`, then
    :math:`w_{t+1} = \mathrm{base\_step}(w_t, \nabla\tilde f(u_t))`.

    Source: Courbariaux et al. 2015; it is BinaryRelax's Phase II and BCGD with ρ = 0
    (papers.md §B, §C1).
    """


@dataclass(frozen=True)
class BinaryRelax:
    r"""BinaryRelax (Yin et al., arXiv 1801.06313), papers.md §B.

    Phase I: forward at the relaxed point :math:`u = (w + \lambda P_Q(w))/(1+\lambda)`, the exact
    prox of :math:`\tfrac{\lambda}{2}\operatorname{dist}(\cdot,Q)^2` at w; continuation
    :math:`\lambda \leftarrow \text{growth}\cdot\lambda` at the start of each epoch (or step), so
    that during epoch e (or step t) :math:`\lambda = \lambda_0\,\text{growth}^{e+1}` (released code
    BRc: ``eta`` = 1, ``eta_rate`` = 1.04, applied at the start of every epoch).
    Phase II (from ``phase2_at`` completed epochs/steps on): forward at :math:`P_Q(w)`
    (BinaryConnect). ``phase2_at=None`` stays in Phase I (BRc used 150 of 200 epochs).

    Args:
        lam0: λ0 > 0. growth: factor ≥ 1 per ``per``. per: ``"epoch"`` or ``"step"``.
        phase2_at: None or an int ≥ 0. phase2_unit: ``"epoch"`` or ``"step"``.
    """

    lam0: float = 1.0
    growth: float = 1.04
    per: str = "epoch"
    phase2_at: int | None = None
    phase2_unit: str = "epoch"

    def __post_init__(self) -> None:
        object.__setattr__(self, "lam0", _pos(self.lam0, "lam0"))
        g = _pos(self.growth, "growth")
        if g < 1.0:
            raise ValueError(f"growth must be >= 1 (continuation increases λ), got {g}")
        object.__setattr__(self, "growth", g)
        object.__setattr__(self, "per", _unit(self.per, "per"))
        object.__setattr__(self, "phase2_unit", _unit(self.phase2_unit, "phase2_unit"))
        p2 = self.phase2_at
        if p2 is not None:
            if isinstance(p2, bool) or not isinstance(p2, numbers.Integral) or p2 < 0:
                raise ValueError(f"phase2_at must be None or an int >= 0, got {p2!r}")
            object.__setattr__(self, "phase2_at", int(p2))


@dataclass(frozen=True)
class BCGD:
    r"""Blended coarse gradient descent (Yin et al., arXiv 1808.05240), papers.md §C1.

    .. math:: u_t = P_Q(w_t), \qquad w_{t+1} = \mathrm{base\_step}\big((1-\rho)w_t + \rho u_t,\;
              \nabla\tilde f(u_t)\big)

    in the order of the released code (BCc ``optimization_step``): G ← P(W); forward/backward at
    G; W ← (1−ρ)W + ρG; ``optimizer.step()`` (weight decay and momentum act on the blended W).
    Schedule: after each epoch (or step) :math:`\rho \leftarrow \min(\rho\cdot\text{rho\_growth},
    \rho_{max})` (BCc: ``rho_rate`` = 1, i.e. constant ρ = 1e-5 in the README demo).
    Sufficient descent holds for :math:`\eta < \rho/L` (papers.md §C1, RECON).

    Args:
        rho: initial ρ in [0, rho_max]. rho_growth: factor ≥ 1. rho_max: cap in (0, 1].
        per: ``"epoch"`` or ``"step"``.
    """

    rho: float = 1e-5
    rho_growth: float = 1.0
    rho_max: float = 0.01
    per: str = "epoch"

    def __post_init__(self) -> None:
        if isinstance(self.rho, bool) or not isinstance(self.rho, numbers.Real):
            raise TypeError(f"rho must be a real number, got {type(self.rho).__name__}")
        rho = float(self.rho)
        rmax = _pos(self.rho_max, "rho_max")
        if rmax > 1.0:
            raise ValueError(f"rho_max must be in (0, 1], got {rmax}")
        if not math.isfinite(rho) or not 0.0 <= rho <= rmax:
            raise ValueError(f"rho must be in [0, rho_max={rmax}], got {rho}")
        g = _pos(self.rho_growth, "rho_growth")
        if g < 1.0:
            raise ValueError(f"rho_growth must be >= 1, got {g}")
        object.__setattr__(self, "rho", rho)
        object.__setattr__(self, "rho_max", rmax)
        object.__setattr__(self, "rho_growth", g)
        object.__setattr__(self, "per", _unit(self.per, "per"))


Method = BinaryConnect | BinaryRelax | BCGD
_NAMES = {"binaryconnect": BinaryConnect, "bc": BinaryConnect, "binaryrelax": BinaryRelax,
          "br": BinaryRelax, "bcgd": BCGD}


def as_method(method: object) -> Method:
    """Accept a method object, or a name (``"binaryconnect"``, ``"binaryrelax"``, ``"bcgd"``)."""
    if isinstance(method, (BinaryConnect, BinaryRelax, BCGD)):
        return method
    if isinstance(method, str):
        cls = _NAMES.get(method.strip().lower())
        if cls is None:
            raise ValueError(f"unknown method {method!r}; expected one of "
                             "'binaryconnect', 'binaryrelax', 'bcgd'")
        return cls()
    raise TypeError("method must be qopt.BinaryConnect(), qopt.BinaryRelax(...) or "
                    f"qopt.BCGD(...), got {type(method).__name__}")


def _phase(m: Method, st: dict[str, Any]) -> int:
    if isinstance(m, BinaryRelax):
        if m.phase2_at is None:
            return 1
        count = st["epochs"] if m.phase2_unit == "epoch" else st["steps"]
        return 2 if count >= m.phase2_at else 1
    return 2


def initial_state(m: Method) -> dict[str, Any]:
    """Counters and schedule values before the first step (λ = λ0·growth: BRc multiplies at the
    start of epoch 0 already)."""
    st: dict[str, Any] = {"steps": 0, "epochs": 0, "lam": None, "rho": None}
    if isinstance(m, BinaryRelax):
        st["lam"] = m.lam0 * m.growth
    if isinstance(m, BCGD):
        st["rho"] = m.rho
    st["phase"] = _phase(m, st)
    return st


def _advance(m: Method, st: dict[str, Any], unit: str) -> None:
    if isinstance(m, BinaryRelax) and m.per == unit:
        st["lam"] = st["lam"] * m.growth
    if isinstance(m, BCGD) and m.per == unit:
        st["rho"] = min(st["rho"] * m.rho_growth, m.rho_max)
    st["phase"] = _phase(m, st)


def after_step(m: Method, st: dict[str, Any]) -> None:
    """Counters and per-step schedules after one optimizer step (in place)."""
    st["steps"] += 1
    _advance(m, st, "step")


def after_epoch(m: Method, st: dict[str, Any]) -> None:
    """Counters and per-epoch schedules at the end of an epoch (in place)."""
    st["epochs"] += 1
    _advance(m, st, "epoch")


def relaxed(m: Method, st: dict[str, Any]) -> bool:
    """True iff the forward point is the relaxed point (BinaryRelax phase I)."""
    return isinstance(m, BinaryRelax) and st["phase"] == 1
