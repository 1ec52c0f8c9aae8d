r"""Export quantized weights as integer codes and scales, and load them back.

Per quantized tensor W with set :math:`Q = \{\alpha z: z \in L^n\}` (per tensor, or one α per slice
along ``axis``), the export stores

* ``codes``: the integer level **values** :math:`z_i` when every unit level is an integer
  (``Binary`` ±1, ``Ternary``, ``Uniform(b)`` in [−K, K], integer ``Grid``), else the **indices**
  into ``levels`` (``Symmetric`` half-integers, fractional grids); in the smallest integer dtype
  that holds them (int8/uint8/int16/int32/int64);
* ``scale``: α (0-d, or shaped to broadcast along ``axis``), in the compute dtype;
* ``levels``: the sorted unit levels (float); ``axis``; ``kind`` (``"values"`` / ``"indices"``);
  ``dtype`` (the parameter's dtype name) and ``qset`` (its text spec, when known);

so that :math:`W = \alpha\cdot\text{levels}[\text{codes}]` (indices) or
:math:`W = \alpha\cdot\text{codes}` (values) **bitwise** (:func:`dequantize`). Sources of the
quantized tensors: a :class:`qopt.QuantOptimizer` (its ``quantized_state()``: P(latent), which is
what the model holds after ``finalize()``; the optimizer's kept projection, not a new one),
modules marked by :func:`qopt.quantize_model`
(``qopt_qset``/``qopt_axis``; their weights must already be exactly quantized) and modules with a
``qopt_export()`` method (UniQ layers).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from qopt.projection import compute_dtype, from_rows, project_rows, tables, to_rows
from theory._validate import check_axis

__all__ = ["export_quantized", "load_quantized", "dequantize", "smallest_int_dtype"]

_INT_DTYPES = [(torch.int8, -(2**7), 2**7 - 1), (torch.uint8, 0, 2**8 - 1),
               (torch.int16, -(2**15), 2**15 - 1), (torch.int32, -(2**31), 2**31 - 1),
               (torch.int64, -(2**63), 2**63 - 1)]


def smallest_int_dtype(lo: int, hi: int) -> torch.dtype:
    """Smallest integer dtype holding every integer in [lo, hi] (int8 < uint8 < int16 < ...)."""
    for dt, a, b in _INT_DTYPES:
        if a <= lo and hi <= b:
            return dt
    raise ValueError(f"no integer dtype holds the range [{lo}, {hi}]")


def _pack(codes: Tensor, scale: Tensor, levels: Tensor, axis: int | None, dtype: torch.dtype,
          spec: str | None) -> dict[str, Any]:
    """Codes as level values (integer levels) or indices, in the smallest int dtype."""
    lv = levels.detach().cpu().double()
    integer = bool(torch.all(lv == torch.round(lv)))
    if integer:
        kind, lo, hi = "values", int(lv.min()), int(lv.max())
        out = levels.round().to(torch.int64)[codes]
    else:
        kind, lo, hi = "indices", 0, lv.numel() - 1
        out = codes
    return {"codes": out.to(smallest_int_dtype(lo, hi)), "scale": scale, "levels": levels,
            "axis": axis, "kind": kind, "dtype": str(dtype).replace("torch.", ""),
            "qset": spec}


def dequantize(entry: dict[str, Any]) -> Tensor:
    r"""The weight :math:`\alpha\cdot\text{levels}[\text{codes}]` (or :math:`\alpha\cdot` codes)
    of one exported entry, in the entry's ``dtype``."""
    codes, scale, levels = entry["codes"], entry["scale"], entry["levels"]
    if entry.get("kind", "indices") == "values":
        z = codes.to(levels.dtype)
    else:
        z = levels[codes.long()]
    w = scale * z
    dt = getattr(torch, entry["dtype"]) if isinstance(entry.get("dtype"), str) else w.dtype
    return w.to(dt)


def _from_weights(w: Tensor, qset: Any, axis: int | None) -> tuple[Tensor, Tensor, Tensor]:
    """(codes, scale, levels) of an already exactly-quantized weight, verified bitwise.

    The exact projection returns the codes; the scale is refitted by least squares, which may
    differ from the stored α in the last bit, so α is recovered from the entry of largest |level|
    per slice (α = w_i / z_i) and the reconstruction is checked element by element.
    """
    cd = compute_dtype(w.dtype)
    ax = check_axis(axis, w.dim())
    rows = to_rows(w.detach(), ax, cd)
    alpha, codes = project_rows(rows, qset)
    levels = tables(qset, cd, w.device)["levels"]
    z = levels[codes]
    k = torch.argmax(z.abs(), dim=1, keepdim=True)
    zk = torch.gather(z, 1, k)
    cand = torch.where(zk != 0, torch.gather(rows, 1, k) / torch.where(zk != 0, zk, 1.0), 0.0)
    for a in (alpha, cand[:, 0]):
        if torch.equal((a[:, None] * z).to(w.dtype), rows.to(w.dtype)):
            alpha = a
            break
    else:
        raise ValueError("weights are not exactly quantized on their set; call "
                         "QuantOptimizer.finalize() or pass the optimizer to export_quantized")
    if ax is None:
        scale = alpha[0]
    else:
        shape = [1] * w.dim()
        shape[ax] = -1
        scale = alpha.reshape(shape)
    return from_rows(codes, w.shape, ax), scale, levels


def export_quantized(model: nn.Module, optimizer: Any = None) -> dict[str, dict[str, Any]]:
    """Per quantized tensor name (as in ``model.named_parameters()``): codes, scale, levels, axis.

    Args:
        model: the model. optimizer: a :class:`qopt.QuantOptimizer` (its latent weights define
            P(latent)); without it, marked modules must hold exactly quantized weights.

    Raises:
        TypeError: ``model`` is not an ``nn.Module``; ``optimizer`` has no ``quantized_state``.
        ValueError: a marked weight is not exactly quantized.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if optimizer is not None and not hasattr(optimizer, "quantized_state"):
        raise TypeError("optimizer must be a qopt.QuantOptimizer (with quantized_state()), got "
                        f"{type(optimizer).__name__}")
    names = {id(p): n for n, p in model.named_parameters()}
    out: dict[str, dict[str, Any]] = {}
    if optimizer is not None:
        specs = {id(p): g["qset"].spec for g in optimizer.param_groups
                 if g.get("qset") is not None for p in g["params"]}
        for p, (codes, scale, levels, axis) in optimizer.quantized_state().items():
            if id(p) in names:
                out[names[id(p)]] = _pack(codes, scale, levels, axis, p.dtype, specs.get(id(p)))
    for mname, mod in model.named_modules():
        prefix = f"{mname}." if mname else ""
        export = getattr(mod, "qopt_export", None)
        if callable(export):
            e = dict(export())
            out.setdefault(f"{prefix}weight", {
                **e, "kind": e.get("kind", "indices"),
                "dtype": str(mod.weight.dtype).replace("torch.", ""), "qset": e.get("qset")})
            continue
        qset = mod.__dict__.get("qopt_qset")
        w = getattr(mod, "weight", None)
        if qset is None or not isinstance(w, Tensor) or f"{prefix}weight" in out:
            continue
        axis = mod.__dict__.get("qopt_axis")
        codes, scale, levels = _from_weights(w, qset, axis)
        out[f"{prefix}weight"] = _pack(codes, scale, levels, check_axis(axis, w.dim()),
                                       w.dtype, qset.spec)
    return out


def _check_entry(name: str, entry: Any) -> None:
    """``ValueError`` naming the tensor unless ``entry`` has the fields :func:`dequantize` reads,
    with consistent types and values: integer codes that are level indices (``indices``: in
    [0, n)) or level values (``values``: members of the integer levels) of the set; finite
    scale α >= 0 (α = 0 is the projection of an all-zero slice, which export writes); finite
    levels, equal to those of ``qset`` when the entry names its set."""
    if not isinstance(entry, dict):
        raise ValueError(f"exported tensor {name!r}: expected a dict with codes, scale, levels; "
                         f"got {type(entry).__name__}")
    missing = [k for k in ("codes", "scale", "levels") if not isinstance(entry.get(k), Tensor)]
    if missing:
        raise ValueError(f"exported tensor {name!r}: {', '.join(missing)} missing or not a "
                         "tensor")
    codes, scale, levels = entry["codes"], entry["scale"], entry["levels"]
    for key, t in (("codes", codes), ("scale", scale), ("levels", levels)):
        if t.layout != torch.strided or t.is_meta:
            raise ValueError(f"exported tensor {name!r}: {key} must be a dense tensor holding "
                             f"data, got {'a meta tensor' if t.is_meta else t.layout}")
    if codes.is_floating_point() or codes.is_complex() or codes.dtype == torch.bool:
        raise ValueError(f"exported tensor {name!r}: codes must be integers, got {codes.dtype}")
    if not (scale.is_floating_point() and levels.is_floating_point()) or levels.dim() != 1 \
            or levels.numel() == 0:
        raise ValueError(f"exported tensor {name!r}: scale and levels must be floating tensors, "
                         "levels 1-D and non-empty")
    if not bool(torch.isfinite(levels).all()):
        raise ValueError(f"exported tensor {name!r}: levels must be finite, got "
                         f"{levels.tolist()}")
    _check_levels_of_set(name, entry.get("qset"), levels)
    if not bool(torch.isfinite(scale).all()) or bool((scale < 0).any()):
        bad = scale[~torch.isfinite(scale) | (scale < 0)].reshape(-1)[0].item()
        raise ValueError(f"exported tensor {name!r}: scale must be finite and >= 0 (α of "
                         f"Q = {{αz}}), got {bad}")
    kind = entry.get("kind", "indices")
    if kind not in ("indices", "values"):
        raise ValueError(f"exported tensor {name!r}: kind must be 'indices' or 'values', got "
                         f"{kind!r}")
    if kind == "indices" and codes.numel() and (int(codes.min()) < 0
                                                 or int(codes.max()) >= levels.numel()):
        raise ValueError(f"exported tensor {name!r}: level indices outside [0, "
                         f"{levels.numel()})")
    if kind == "values":
        if not bool(torch.all(levels == torch.round(levels))):
            raise ValueError(f"exported tensor {name!r}: kind 'values' needs integer levels, "
                             f"got {levels.tolist()}")
        allowed = levels.round().to(torch.int64)
        bad = ~torch.isin(codes.to(torch.int64), allowed)
        if bool(bad.any()):
            raise ValueError(f"exported tensor {name!r}: code {int(codes[bad][0])} is not a "
                             f"level of the set (levels {allowed.tolist()}; "
                             f"{int(bad.sum())} such code(s))")
    axis = entry.get("axis")
    if axis is not None and (not isinstance(axis, int) or isinstance(axis, bool)
                             or not -max(codes.dim(), 1) <= axis < max(codes.dim(), 1)):
        raise ValueError(f"exported tensor {name!r}: axis must be None or an int in "
                         f"[{-max(codes.dim(), 1)}, {max(codes.dim(), 1)}) for codes of shape "
                         f"{tuple(codes.shape)}, got {axis!r}")
    dt = entry.get("dtype")
    if dt is not None and not (isinstance(dt, str) and isinstance(getattr(torch, dt, None),
                                                                   torch.dtype)):
        raise ValueError(f"exported tensor {name!r}: dtype must be a torch dtype name, got {dt!r}")
    try:
        torch.broadcast_shapes(scale.shape, codes.shape)
    except RuntimeError:
        raise ValueError(f"exported tensor {name!r}: scale of shape {tuple(scale.shape)} does "
                         f"not broadcast to codes of shape {tuple(codes.shape)}") from None


def _check_levels_of_set(name: str, spec: Any, levels: Tensor) -> None:
    """The stored ``levels`` must be the unit levels of the entry's set when it names one
    (``qset``: its text spec; None for entries that carry only their levels)."""
    if spec is None:
        return
    from theory import parse_qset

    try:
        qset = parse_qset(spec)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"exported tensor {name!r}: qset {spec!r} is not a quantization set "
                         f"spec ({exc})") from None
    want = tables(qset, levels.dtype, levels.device)["levels"]
    if want.shape != levels.shape or not torch.equal(want, levels):
        raise ValueError(f"exported tensor {name!r}: levels {levels.tolist()} are not those of "
                         f"its set {spec!r} ({want.tolist()})")


@torch.no_grad()
def load_quantized(model: nn.Module, exported: dict[str, dict[str, Any]] | str | os.PathLike
                   ) -> nn.Module:
    """Write every exported tensor (codes × scale) into the model's parameter of that name.

    ``exported`` is :func:`export_quantized`'s dict or a file holding it (e.g. a run's
    ``quantized.pt``), read with ``torch.load(weights_only=True)``: a crafted file cannot run code.
    Every entry is checked before the model is touched (:func:`_check_entry`: codes are
    level indices or level values of the set, scales finite and >= 0, levels those of the
    entry's ``qset``; the error names the entry).

    Raises:
        TypeError: ``model`` not a module, or ``exported`` neither a dict nor a path.
        ValueError: an unreadable or unsafe file, a malformed entry, a name not in the model, or
            a shape mismatch (the tensor is named).
    """
    def decode(name: str, entry: Any) -> Tensor:
        _check_entry(name, entry)
        return dequantize(entry)

    return write_entries(model, exported, decode, "exported", "export_quantized")


def write_entries(model: nn.Module, source: dict[str, Any] | str | os.PathLike,
                  decode: Callable[[str, Any], Tensor], what: str, producer: str) -> nn.Module:
    """The loader shared by :func:`load_quantized` and :func:`qopt.export_packed.load_packed`:
    ``source`` (a dict, or a file read with ``torch.load(weights_only=True)``) maps parameter
    names to entries; ``decode(name, entry)`` checks one entry and returns its weights. Every
    entry is decoded and its shape checked against the model's parameter before any parameter
    is written, so a bad entry leaves the model untouched. ``what`` names the argument and the
    entries in messages, ``producer`` the function that writes them."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if isinstance(source, (str, os.PathLike)):
        from qopt.io import load_state_file

        source = load_state_file(source)
    if not isinstance(source, dict):
        raise TypeError(f"{what} must be a dict from {producer} (or a file holding one), "
                        f"got {type(source).__name__}")
    params = dict(model.named_parameters())
    weights = {}
    for name, entry in source.items():
        if name not in params:
            raise ValueError(f"{what} tensor {name!r} is not a parameter of the model")
        w = decode(name, entry)
        p = params[name]
        if w.shape != p.shape:
            raise ValueError(f"{what} tensor {name!r} has shape {tuple(w.shape)}, the model's "
                             f"parameter {tuple(p.shape)}")
        weights[name] = w
    for name, w in weights.items():
        p = params[name]
        p.copy_(w.to(device=p.device, dtype=p.dtype))
    return model
