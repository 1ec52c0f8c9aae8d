r"""``verify run`` invariants on the final weights (section (a), see :mod:`run_invariants`):
``final_membership`` (``model.pt`` = :math:`\alpha\cdot` level[code] of ``quantized.pt``, bit for
bit) and ``final_projection`` (``model.pt`` is an exact projection of ``latent.pt``: squared
distance within :math:`\tau_d` of :func:`theory.project`'s, tolerance derived in
:mod:`run_invariants`). Tensors are read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from proofs_check.report import Check
from proofs_check.run_files import RunFiles, as_f64, gamma, unit_roundoff
from proofs_check.run_invariants import invariant
from theory.sets import parse_qset

__all__ = ["check_final"]


def _dequantize(entry: dict[str, Any]) -> np.ndarray:
    codes = entry["codes"].long().numpy() if hasattr(entry["codes"], "long") else \
        np.asarray(entry["codes"])
    levels = as_f64(entry["levels"])
    z = codes.astype(np.float64) if entry.get("kind", "indices") == "values" else levels[codes]
    return as_f64(entry["scale"]) * z


def check_final(run: RunFiles) -> list[Check]:
    """``final_membership`` and ``final_projection`` (model.pt, quantized.pt, latent.pt)."""
    tensors = run.config.get("tensors") or {}
    m1 = "quantized tensors of model.pt equal alpha * level[code] of quantized.pt (bitwise)"
    m2 = "max (||w - W||^2 - dist(w, Q)^2) / tau_d over tensors (holds <= 1)"
    if run.result is None:
        why = "the run has not finished (no result.json)"
        return [invariant("final_membership", [], 0, m1, skip=why),
                invariant("final_projection", [], 0, m2, skip=why)]
    if not tensors:
        why = ("float weights" if run.config.get("method") == "float" else
               "no QuantOptimizer tensors recorded (UniQ quantizes in the forward pass, or an "
               "older run format)")
        return [invariant("final_membership", [], 0, m1, skip=why),
                invariant("final_projection", [], 0, m2, skip=why)]
    model, exported, latent = (run.tensors(f) for f in ("model.pt", "quantized.pt", "latent.pt"))
    problems, n = [], 0
    if model is None or exported is None:
        problems.append("model.pt or quantized.pt missing")
    else:
        import torch

        for name, meta in tensors.items():
            n += 1
            W, e = model.get(name), exported.get(name)
            if W is None or e is None:
                problems.append(f"{name}: missing from model.pt or quantized.pt")
                continue
            dt = getattr(torch, meta.get("dtype", "float32"))
            q = torch.from_numpy(_dequantize(e)).to(dt)
            if tuple(q.shape) != tuple(W.shape) or not torch.equal(q, W.to(dt)):
                bad = int((q != W.to(dt)).sum()) if q.shape == W.shape else -1
                problems.append(f"{name}: {bad} entries differ from alpha * level[code]")
    out = [invariant("final_membership", problems, n, m1)]
    if latent is None or model is None:
        out.append(invariant("final_projection", [], 0, m2, skip="no latent.pt (an older run "
                          "format)"))
        return out
    lat = latent.get("latent", {})
    problems, worst, n = [], 0.0, 0
    import theory

    for name, meta in tensors.items():
        if name not in lat or name not in model:
            problems.append(f"{name}: missing from latent.pt or model.pt")
            continue
        n += 1
        w, W = as_f64(lat[name]), as_f64(model[name])
        gs = meta.get("group_size")
        proj = theory.project(w, parse_qset(meta["qset"]), meta.get("axis"), gs)
        q = np.asarray(proj.q, dtype=np.float64)
        d_star = float(np.sum(np.asarray(proj.dist2)))
        d_w = float(np.sum((w - W) ** 2))
        u = unit_roundoff(meta.get("dtype"))
        axis = meta.get("axis")
        m = w.size if axis is None else w.size // w.shape[axis]
        if gs is not None:  # the sums of one block: g entries at most
            m = min(m, int(gs))
        g = gamma(m, u)
        qn, rn, wn = float(np.linalg.norm(q)), math.sqrt(d_star), float(np.linalg.norm(w))
        tau = 4 * g * (wn ** 2 + qn ** 2) + 2 * u * qn * rn + ((2 * g + 2 * u) * qn) ** 2
        ratio = (d_w - d_star) / tau if tau > 0 else (0.0 if d_w <= d_star else math.inf)
        worst = max(worst, ratio)
        if ratio > 1:
            problems.append(f"{name}: ||w - W||^2 = {d_w:.9g} exceeds dist(w, Q)^2 = "
                            f"{d_star:.9g} by {d_w - d_star:.3g} > {tau:.3g}")
    out.append(invariant("final_projection", problems, n, m2, worst))
    return out
