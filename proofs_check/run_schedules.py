r"""The schedules a run was configured with, recomputed here from its ``config.json`` alone
(independently of the engine and the trainer), for ``verify run``'s "as configured" checks.

**Clock.** A record at global step s (s optimizer steps done) lies in epoch e; P = steps per
epoch (recorded). The number of completed schedule units k when the record is written depends
on when the engine advances epoch schedules (recorded as ``schedule_clock``): ``"step"``
(contract C2: from ``step()`` itself every P steps, so :math:`k = \lfloor s/P\rfloor`) or
``"end_epoch"`` (an engine advancing in ``end_epoch()``, called after the epoch's last record:
:math:`k = e`). Per-step schedules use :math:`k = s`.

**BinaryRelax** (method config with ``lam_max``: contract C1). λ during unit k is
:math:`\lambda_0 g^k`; with ``growth`` none, :math:`g = (\lambda_{max}/\lambda_0)^{1/K_2}` so
that λ reaches :math:`\lambda_{max}` at the start of Phase II, :math:`K_2 =` ``phase2_at`` or
:math:`\mathrm{round}(\texttt{phase2\_frac}\cdot U)` (U = total units: epochs, or epochs·P);
phase 2 iff :math:`k \ge K_2`. Method configs without ``lam_max`` (the engine before C1):
:math:`\lambda = \lambda_0 g^{k+1}` (the released BinaryRelax code multiplies at the start of
every epoch), phase 2 iff the ``phase2_unit`` count reaches ``phase2_at``.

**BCGD**: :math:`\rho_k = \min(\rho_0 g_\rho^k, \rho_{max})` (released BCGD code:
``rho = min(rho * rho_rate, 0.01)`` per epoch), phase 2 (BinaryConnect and BCGD have no Phase I).

**ProxQuant**: :math:`\lambda_k = r k` with r = ``lam_rate`` or :math:`\lambda_{max}/K_2`;
**PARQ**: Phase II (inverse slope 0, P(w)) from :math:`K_2` = ``end_at`` or
round(``end_frac`` · U) (its inverse slope inside the window is not recomputed). Both: phase 2
iff :math:`k \ge K_2`.

**Learning rate** during epoch e: :math:`\eta_0\,\phi(e)\,s^{[e \ge E_2]}` with φ the
configured schedule (constant, multistep, cosine, warmup_cosine; formulas of the trainer's
documentation, restated here) and the Phase-II factor s = ``phase2_lr_scale`` from the epoch
:math:`E_2` where Phase II starts (:math:`K_2` for epoch units, :math:`\lceil K_2/P\rceil` for
step units).

Tolerance of the λ/ρ comparison: both sides compute :math:`\lambda_0 g^k` in float64 (by
``**`` or by k multiplications), each within :math:`(k+2)\,u_{64}` relative
(:math:`u_{64} = 2^{-53}`; one rounding per multiplication plus one for g); we allow
:math:`4(k+2)u_{64}`.
"""

from __future__ import annotations

import math
from typing import Any

U64 = 2.0 ** -53


def _units(per: str, s: int, e: int, P: int, clock: str) -> int:
    if per == "step":
        return s
    return s // P if clock == "step" else e


def binaryrelax_state(mc: dict[str, Any], s: int, e: int, P: int, epochs: int, clock: str
                      ) -> tuple[float | None, int, int]:
    """(λ expected at the record (None in Phase II), phase, k) for a BinaryRelax config."""
    per = mc.get("per", "epoch")
    k = _units(per, s, e, P, clock)
    lam0 = float(mc["lam0"])
    if "lam_max" in mc:  # contract C1
        total = epochs if per == "epoch" else epochs * P
        k2 = phase2_unit(mc, total)
        g = mc.get("growth")
        if g is None:
            g = (float(mc["lam_max"]) / lam0) ** (1.0 / k2) if k2 else 1.0
        phase = 2 if (k2 is not None and k >= k2) else 1
        return (lam0 * float(g) ** k if phase == 1 else None), phase, k
    at = mc.get("phase2_at")  # engine before C1
    count = (e if clock == "end_epoch" else s // P) if mc.get("phase2_unit", "epoch") == \
        "epoch" else s
    phase = 2 if (at is not None and count >= at) else 1
    return (lam0 * float(mc["growth"]) ** (k + 1) if phase == 1 else None), phase, k


def phase2_unit(mc: dict[str, Any], total_units: int) -> int | None:
    """:math:`K_2` (contract C1): ``phase2_at`` or round(``phase2_frac`` · total) (PARQ:
    ``end_at`` or round(``end_frac`` · total)), or None."""
    at, frac = ("end_at", "end_frac") if mc.get("name") == "PARQ" else \
        ("phase2_at", "phase2_frac")
    if mc.get(at) is not None:
        return int(mc[at])
    f = mc.get(frac)
    return None if f is None else int(round(float(f) * total_units))


def phase2_epoch(mc: dict[str, Any] | None, P: int, epochs: int) -> int | None:
    """:math:`E_2`: the epoch from which the Phase-II lr factor applies (None: never)."""
    if not mc or mc.get("name") not in ("BinaryRelax", "ProxQuant", "PARQ"):
        return None
    per = mc.get("per", "epoch")
    if mc.get("name") != "BinaryRelax" or "lam_max" in mc:
        k2 = phase2_unit(mc, epochs if per == "epoch" else epochs * P)
        if k2 is None:
            return None
        return k2 if per == "epoch" else -(-k2 // P)
    at = mc.get("phase2_at")
    return int(at) if at is not None and mc.get("phase2_unit", "epoch") == "epoch" else None


def staged_state(mc: dict[str, Any], s: int, e: int, P: int, epochs: int, clock: str
                 ) -> tuple[float | None, int, int]:
    """(ProxQuant's λ or None, phase, k) for ProxQuant and PARQ configs."""
    per = mc.get("per", "epoch")
    k = _units(per, s, e, P, clock)
    k2 = phase2_unit(mc, epochs if per == "epoch" else epochs * P)
    phase = 2 if k2 is not None and k >= k2 else 1
    if mc.get("name") != "ProxQuant":
        return None, phase, k
    rate = mc.get("lam_rate")
    if rate is None:
        rate = float(mc["lam_max"]) / k2 if k2 else 0.0
    return float(rate) * k, phase, k


def bcgd_rho(mc: dict[str, Any], s: int, e: int, P: int, clock: str) -> tuple[float, int]:
    """(ρ expected at the record, k)."""
    k = _units(mc.get("per", "epoch"), s, e, P, clock)
    rho = float(mc["rho"]) * float(mc.get("rho_growth", 1.0)) ** k
    return min(rho, float(mc.get("rho_max", 0.01))), k


def lr_factor(cfg: dict[str, Any], e: int) -> float:
    r""":math:`\phi(e)` of the configured schedule (without the Phase-II factor)."""
    kind, E = cfg.get("schedule", "cosine"), int(cfg["epochs"])
    if kind == "constant":
        return 1.0
    if kind == "multistep":
        return float(cfg.get("gamma", 0.1)) ** sum(1 for m in cfg.get("milestones", []) if m <= e)
    if kind == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * min(e, E) / E))
    if kind == "warmup_cosine":
        W = int(cfg.get("warmup_epochs", 0))
        if e < W:
            return float(cfg["warmup_lr"]) / float(cfg["lr"])
        t, span = e - W, max(1, E - W)
        return 0.5 * (1.0 + math.cos(math.pi * min(t, span) / span))
    raise ValueError(f"unknown schedule {kind!r}")


def expected_lr(cfg: dict[str, Any], e: int, P: int) -> float:
    """Learning rate during epoch e (module docstring)."""
    e2 = phase2_epoch(cfg.get("method_config"), P, int(cfg["epochs"]))
    drop = float(cfg.get("phase2_lr_scale", 1.0)) if e2 is not None and e >= e2 else 1.0
    return float(cfg["lr"]) * lr_factor(cfg, e) * drop


def rel_tol(k: int) -> float:
    """Allowed relative difference of λ/ρ after k schedule units (module docstring)."""
    return 4.0 * (k + 2) * U64
