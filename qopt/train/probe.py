r"""What a run logs so that ``qopt verify run`` can check the implementation independently.

At every diagnostics step (``diag_every``) the trainer writes one ``"probe"`` record to
``metrics.jsonl`` beside the optimizer's ``"diag"`` record::

    {"type": "probe", "step": s, "epoch": e, "lam": λ|null, "rho": ρ|null, "phase": 1|2,
     "lr": η, "tensors": {NAME: {"idx": [...], "w": [...], "u": [...], "scale": [...],
                                 "level": [...], "q_norm2": ‖P(w)‖², "numel": n}}}

For K = :data:`SAMPLES` fixed flat positions ``idx_j = floor(j n / K)`` of each quantized tensor:
the latent weight w, the point u the model holds (the forward point of the next step), the
scale α of the slice of the entry and the unit level z of the exact projection
:math:`P(w)_j = \alpha_j z_j` (all as exact float64 copies of the tensors' values). With them a
checker recomputes, in its own arithmetic, that z is the nearest level of w/α, that u equals
:math:`P(w)` (BinaryConnect, BCGD, BinaryRelax Phase II) or the prox
:math:`(w + \lambda P(w))/(1+\lambda)` (BinaryRelax Phase I), and that λ, ρ, phase and η follow
the configured schedules. At the end of training ``latent.pt`` holds every final latent tensor
(``{"format": 1, "latent": {NAME: tensor}}``), so the final weights can be checked against the
exact projection of the whole tensor.
"""

from __future__ import annotations

from typing import Any

import torch

#: sampled entries per tensor and probe record
SAMPLES = 8


def named_latents(opt: Any) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """name -> (parameter, latent tensor) of every quantized tensor of a QuantOptimizer.

    The latent tensors come from the optimizer's public ``state_dict()["qopt"]["latent"]``
    (keyed by the parameter's position in the flattened param groups); names from the groups'
    ``"names"`` (or ``g<i>.p<j>``)."""
    latent = opt.state_dict()["qopt"]["latent"]
    out, k = {}, 0
    for gi, g in enumerate(opt.param_groups):
        names = g.get("names")
        for pi, p in enumerate(g["params"]):
            if k in latent or str(k) in latent:
                lat = latent[k] if k in latent else latent[str(k)]
                name = str(names[pi]) if names is not None else f"g{gi}.p{pi}"
                out[name] = (p, lat)
            k += 1
    return out


def tensor_specs(opt: Any) -> dict[str, dict[str, Any]]:
    """name -> {shape, dtype, qset, axis[, group_size]} of every quantized tensor (recorded in
    config.json)."""
    out = {}
    for g in opt.param_groups:
        if g.get("qset") is None:
            continue
        names = g.get("names") or [None] * len(g["params"])
        for p, n in zip(g["params"], names):
            out[str(n)] = {"shape": list(p.shape), "dtype": str(p.dtype).replace("torch.", ""),
                           "qset": g["qset"].spec, "axis": g.get("axis")}
            if g.get("group_size") is not None:  # absent otherwise: older records unchanged
                out[str(n)]["group_size"] = g["group_size"]
    return out


def _positions(n: int, k: int = SAMPLES) -> list[int]:
    return sorted({(j * n) // k for j in range(min(k, n))})


@torch.no_grad()
def probe_record(opt: Any) -> dict[str, Any]:
    """The probe record's values (see the module docstring); one host sync per tensor."""
    qstate = opt.quantized_state()
    tensors = {}
    for name, (param, lat) in named_latents(opt).items():
        codes, scale, levels, _axis = qstate[param]
        idx = _positions(lat.numel())
        it = torch.tensor(idx, dtype=torch.long, device=lat.device)
        alpha = torch.as_tensor(scale).to(lat.device).expand_as(lat).reshape(-1)[it]
        z = levels[codes.reshape(-1)[it]]
        q = (torch.as_tensor(scale).double() * levels.double()[codes]).reshape(-1)
        tensors[name] = {
            "idx": idx,
            "w": lat.reshape(-1)[it].double().tolist(),
            "u": param.detach().reshape(-1)[it].double().tolist(),
            "scale": alpha.double().tolist(),
            "level": z.double().tolist(),
            "q_norm2": float(torch.sum(q * q)),
            "numel": int(lat.numel()),
        }
    return {"lam": _num(getattr(opt, "lam", None)), "rho": _num(getattr(opt, "rho", None)),
            "phase": _num(getattr(opt, "phase", None)),
            "lr": float(opt.param_groups[0]["lr"]), "tensors": tensors}


def _num(v: Any) -> float | None:
    return None if v is None else float(v)


@torch.no_grad()
def final_latents(opt: Any) -> dict[str, Any]:
    """``{"format": 1, "latent": {NAME: latent tensor (CPU copy)}}`` for ``latent.pt``."""
    return {"format": 1, "latent": {n: lat.detach().cpu().clone()
                                    for n, (_, lat) in named_latents(opt).items()}}
