r"""Per-tensor diagnostics of projection-based training (computed only when asked).

For a latent tensor w with projection p = P_Q(w) (the optimizer's kept projection: nothing is
projected again here) and residual r = w − p:

=====================  ==========================================================================
key                     value
=====================  ==========================================================================
``dist2``               :math:`\|r\|^2 = \operatorname{dist}(w, Q)^2`
``orth_residual``       :math:`\langle r, p\rangle` (0 for a cone at the exact projection)
``orth_rel``            :math:`|\langle r, p\rangle| / (\|r\|\,\|p\| + \text{tiny})`
``flip_frac``           fraction of codes changed since the previous record (NaN at the first)
``approx_orth_ratio``   :math:`|\langle r_{t+1}, p_t\rangle + \langle r_t, p_{t+1}\rangle| /
                        \|p_{t+1} - p_t\|^2` between the previous record and now (NaN if p did not
                        move, or at the first record); the cross term of the BinaryRelax descent
                        bound (derived here: expand ‖r_{t+1}‖² − ‖r_t‖² with r = w − p)
``lipschitz_est``       :math:`\|g_t - g_{t-1}\|/\|u_t - u_{t-1}\|` over two consecutive steps (u =
                        point where the gradient was taken); NaN if u did not move / unavailable
``grad_norm``           :math:`\|g_t\|`
=====================  ==========================================================================

All values are 0-d float64 tensors on the weights' device: nothing here synchronises with the host;
the caller decides when to read them.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["TINY", "tensor_metrics", "lipschitz", "record_grads", "collect"]

#: Added to the denominator of ``orth_rel`` (float64).
TINY = 1e-300


def _dot(a: Tensor, b: Tensor) -> Tensor:
    return torch.sum(a.double() * b.double())


def _nan(like: Tensor) -> Tensor:
    return torch.full((), float("nan"), dtype=torch.float64, device=like.device)


def tensor_metrics(w: Tensor, p: Tensor, codes: Tensor,
                   prev: dict[str, Tensor] | None) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Metrics of one tensor now, and the snapshot to keep for the next record.

    Args:
        w: latent weights. p: P_Q(w) (same shape). codes: the codes of p.
        prev: the snapshot returned at the previous record (or None).

    Returns:
        (metrics, snapshot) where metrics has ``dist2, orth_residual, orth_rel, flip_frac,
        approx_orth_ratio`` as 0-d float64 tensors.
    """
    w64, p64 = w.double(), p.double()
    r = w64 - p64
    d2 = torch.sum(r * r)
    orth = torch.sum(r * p64)
    pn2 = torch.sum(p64 * p64)
    out = {"dist2": d2, "orth_residual": orth,
           "orth_rel": orth.abs() / (torch.sqrt(d2) * torch.sqrt(pn2) + TINY)}
    if prev is None:
        out["flip_frac"] = _nan(w)
        out["approx_orth_ratio"] = _nan(w)
    else:
        out["flip_frac"] = (codes != prev["codes"]).double().mean()
        num = (torch.sum(r * prev["p"]) + torch.sum(prev["r"] * p64)).abs()
        dp = p64 - prev["p"]
        den = torch.sum(dp * dp)
        out["approx_orth_ratio"] = torch.where(den > 0, num / torch.where(den > 0, den, 1.0),
                                               _nan(w))
    return out, {"codes": codes.clone(), "p": p64.clone(), "r": r}


def lipschitz(g: Tensor, u: Tensor, g_prev: Tensor, u_prev: Tensor) -> Tensor:
    r""":math:`\|g - g_{prev}\| / \|u - u_{prev}\|` in float64 (NaN if u did not move)."""
    dg = torch.linalg.vector_norm(g.double() - g_prev.double())
    du = torch.linalg.vector_norm(u.double() - u_prev.double())
    return torch.where(du > 0, dg / torch.where(du > 0, du, 1.0), _nan(g))


def record_grads(entries: list, stash: dict[int, tuple[Tensor, Tensor]]
                 ) -> dict[int, dict[str, Tensor]]:
    """At a record step: ``grad_norm`` per entry and, when the previous step's gradient and
    point were stashed, ``lipschitz_est``."""
    rec = {}
    for i, e in enumerate(entries):
        g = e.param.grad
        if g is None:
            continue
        r = {"grad_norm": torch.linalg.vector_norm(g.double())}
        if i in stash:
            g0, u0 = stash[i]
            r["lipschitz_est"] = lipschitz(g, e.param, g0, u0)
        rec[i] = r
    return rec


def collect(entries: list, prev: dict[int, dict[str, Tensor]], rec: dict[int, dict[str, Tensor]]
            ) -> tuple[dict[str, Tensor | float], dict[int, dict[str, Tensor]]]:
    """Per-entry metrics ``NAME/<key>`` from the kept projection, and the new snapshots."""
    out: dict[str, Tensor | float] = {}
    new_prev = dict(prev)
    for i, e in enumerate(entries):
        metrics, new_prev[i] = tensor_metrics(e.latent, e.kept_q(), e.kept_codes(), prev.get(i))
        r = rec.get(i, {})
        if "grad_norm" in r:
            metrics["grad_norm"] = r["grad_norm"]
        elif e.param.grad is not None:
            metrics["grad_norm"] = torch.linalg.vector_norm(e.param.grad.double())
        else:
            metrics["grad_norm"] = _nan(e.latent)
        metrics["lipschitz_est"] = r.get("lipschitz_est", _nan(e.latent))
        for k, v in metrics.items():
            out[f"{e.name}/{k}"] = v
    return out, new_prev
