r"""Packed int4 / int2 export: two (four) codes per byte, with the scales and zero points.

Per quantized tensor W (from a :class:`qopt.QuantOptimizer`'s kept projection,
:meth:`~qopt.QuantOptimizer.quantized_blocks`), :func:`export_packed` stores

* ``packed``: uint8, :math:`\lceil N / c \rceil` bytes for the N codes of W in C order, c = 8/bits
  codes per byte (bits 4: c = 2; bits 2: c = 4); code :math:`k_i` (an index into ``levels``,
  :math:`0 \le k_i < 2^{\text{bits}}`) sits in bits :math:`[\text{bits}\cdot (i \bmod c),\
  \text{bits}\cdot(i \bmod c + 1))` of byte :math:`\lfloor i/c \rfloor` (first code in the low
  bits, as int4 weight-only kernels pack them); the unused high bits of the last byte are 0;
* ``scale``: the compact scales, one per tensor (0-d), slice ((C,)) or block ((nb,) / (C, nb)),
  in the compute dtype (float32, or float64 for float64 weights); ``zero_point``: for an affine set
  (``uint:B``) the integer zero points, uint8, shaped like ``scale``, else None;
* ``levels`` (the unit levels; for ``uint:B`` the codes 0..2^B-1), ``bits``, ``shape``,
  ``axis``, ``group_size``, ``dtype`` (the parameter's), ``qset`` (its spec) and ``format``.

Then :math:`W = \text{scale}_B \cdot (\text{levels}[k] - z_B)` for every entry of block B,
evaluated in the compute dtype and rounded once to ``dtype``: the same formula the optimizer
uses for the tensor it writes, so :func:`load_packed` reproduces the quantized weights **bit for
bit** (tested). Every field of every entry is checked before the model is touched; a malformed
entry raises ``ValueError`` naming the tensor. Sets with more than 2^bits levels cannot be packed
at that width (``ValueError``); ``bits=None`` picks 2 for up to 4 levels, else 4 (up to 16).
Format page: ``docs/formats.md#packed-int4-int2``.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["FORMAT", "pack_codes", "unpack_codes", "export_packed", "load_packed",
           "dequantize_packed"]

#: the ``format`` field of every packed entry
FORMAT = "qopt-packed-1"
_BITS = (2, 4)


def pack_codes(codes: Tensor, bits: int) -> Tensor:
    """uint8 bytes of integer ``codes`` (each in [0, 2^bits)), c = 8/bits per byte, first code
    in the low bits; the tail byte's unused bits are 0."""
    if bits not in _BITS:
        raise ValueError(f"bits must be 2 or 4, got {bits!r}")
    c = 8 // bits
    flat = codes.reshape(-1).to(torch.int64)
    if flat.numel() and (int(flat.min()) < 0 or int(flat.max()) >= 2**bits):
        raise ValueError(f"codes must lie in [0, {2**bits}) to pack at {bits} bits")
    pad = (-flat.numel()) % c
    if pad:
        flat = torch.cat([flat, flat.new_zeros(pad)])
    shifts = torch.arange(c, dtype=torch.int64, device=flat.device) * bits
    return (flat.reshape(-1, c) << shifts).sum(dim=1).to(torch.uint8)


def unpack_codes(packed: Tensor, bits: int, numel: int) -> Tensor:
    """int64 codes (``numel`` of them) from :func:`pack_codes`' bytes."""
    c = 8 // bits
    shifts = torch.arange(c, dtype=torch.int64, device=packed.device) * bits
    vals = (packed.to(torch.int64)[:, None] >> shifts) & (2**bits - 1)
    return vals.reshape(-1)[:numel]


def _expand(values: Tensor, shape: tuple[int, ...], axis: int | None,
            group_size: int | None) -> Tensor:
    from qopt.projection.blocks import expand_blocks

    return expand_blocks(values, torch.Size(shape), axis, group_size)


def _n_blocks(shape: tuple[int, ...], axis: int | None, g: int | None) -> tuple[int, ...]:
    """Expected shape of ``scale`` for this layout."""
    numel = 1
    for s in shape:
        numel *= s
    C = 1 if axis is None else shape[axis]
    n = numel // max(C, 1)
    if g is None:
        return () if axis is None else (C,)
    nb = -(-n // g) if g < n else 1
    return (nb,) if axis is None else (C, nb)


def export_packed(model: nn.Module, optimizer: Any, bits: int | None = None
                  ) -> dict[str, dict[str, Any]]:
    """Per quantized parameter name: the packed entry of the module docstring.

    Args:
        model: the model; optimizer: a :class:`qopt.QuantOptimizer` (its kept projection of the
            latent weights, what the model holds after ``finalize()``).
        bits: 2 or 4 codes' width, or None (2 when every set has at most 4 levels per tensor,
            else 4, per tensor).

    Raises:
        TypeError: ``model`` not a module, ``optimizer`` without ``quantized_blocks``.
        ValueError: a set with more levels than ``2^bits``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if not hasattr(optimizer, "quantized_blocks"):
        raise TypeError("optimizer must be a qopt.QuantOptimizer (with quantized_blocks()), got "
                        f"{type(optimizer).__name__}")
    if bits is not None and bits not in _BITS:
        raise ValueError(f"bits must be 2, 4 or None, got {bits!r}")
    names = {id(p): n for n, p in model.named_parameters()}
    out: dict[str, dict[str, Any]] = {}
    for p, st in optimizer.quantized_blocks().items():
        if id(p) not in names:
            continue
        k = int(st["levels"].numel())
        b = bits if bits is not None else (2 if k <= 4 else 4)
        if k > 2**b:
            raise ValueError(f"{names[id(p)]}: set {st['qset'].spec} has {k} levels, more than "
                             f"{2**b} ({b}-bit packing)")
        zp = st["zero_point"]
        out[names[id(p)]] = {
            "format": FORMAT, "bits": b, "packed": pack_codes(st["codes"], b).cpu(),
            "shape": list(p.shape), "scale": st["scale"].detach().cpu(),
            "zero_point": None if zp is None else zp.to(torch.uint8).cpu(),
            "levels": st["levels"].detach().cpu(), "axis": st["axis"],
            "group_size": st["group_size"], "dtype": str(p.dtype).replace("torch.", ""),
            "qset": st["qset"].spec,
        }
    return out


def _check(name: str, e: Any) -> None:
    """ValueError naming ``name`` unless ``e`` is a well-formed packed entry (every field)."""
    def bad(msg: str) -> ValueError:
        return ValueError(f"packed tensor {name!r}: {msg}")

    if not isinstance(e, dict):
        raise bad(f"expected a dict, got {type(e).__name__}")
    if e.get("format") != FORMAT:
        raise bad(f"format must be {FORMAT!r}, got {e.get('format')!r}")
    b = e.get("bits")
    if isinstance(b, bool) or b not in _BITS:
        raise bad(f"bits must be 2 or 4, got {b!r}")
    shape = e.get("shape")
    if not isinstance(shape, (list, tuple)) or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape):
        raise bad(f"shape must be a list of non-negative ints, got {shape!r}")
    numel = 1
    for s in shape:
        numel *= s
    pk = e.get("packed")
    if not isinstance(pk, Tensor) or pk.dtype != torch.uint8 or pk.dim() != 1:
        raise bad("packed must be a 1-D uint8 tensor")
    c = 8 // b
    if pk.numel() != -(-numel // c):
        raise bad(f"packed has {pk.numel()} bytes, {-(-numel // c)} expected for {numel} codes "
                  f"at {b} bits")
    lv = e.get("levels")
    if not isinstance(lv, Tensor) or not lv.is_floating_point() or lv.dim() != 1 \
            or not 1 <= lv.numel() <= 2**b or not bool(torch.isfinite(lv).all()):
        raise bad(f"levels must be a 1-D finite floating tensor of 1..{2**b} entries")
    if lv.numel() > 1 and not bool((lv[1:] > lv[:-1]).all()):
        raise bad("levels must be strictly increasing")
    codes = (pk.to(torch.int64)[:, None] >> (torch.arange(c) * b)) & (2**b - 1)
    codes = codes.reshape(-1)
    if numel and int(codes[:numel].max()) >= lv.numel():
        raise bad(f"a code is outside [0, {lv.numel()})")
    if bool((codes[numel:] != 0).any()):
        raise bad("the unused bits of the last byte must be 0")
    axis, g = e.get("axis"), e.get("group_size")
    if axis is not None and (isinstance(axis, bool) or not isinstance(axis, int)
                             or not 0 <= axis < max(len(shape), 1)):
        raise bad(f"axis must be None or in [0, {len(shape)}), got {axis!r}")
    if g is not None and (isinstance(g, bool) or not isinstance(g, int) or g < 1):
        raise bad(f"group_size must be None or an int >= 1, got {g!r}")
    sc = e.get("scale")
    want = _n_blocks(tuple(shape), axis, g)
    if not isinstance(sc, Tensor) or sc.dtype not in (torch.float32, torch.float64) \
            or tuple(sc.shape) != want or not bool(torch.isfinite(sc).all()) \
            or bool((sc < 0).any()):
        raise bad(f"scale must be a finite non-negative float32/float64 tensor of shape {want}")
    zp = e.get("zero_point")
    if zp is not None:
        if not isinstance(zp, Tensor) or zp.dtype != torch.uint8 or tuple(zp.shape) != want:
            raise bad(f"zero_point must be None or a uint8 tensor of shape {want}")
        if zp.numel() and int(zp.max()) >= lv.numel():
            raise bad(f"zero_point outside [0, {lv.numel()})")
    dt = e.get("dtype")
    if not (isinstance(dt, str) and isinstance(getattr(torch, dt, None), torch.dtype)
            and getattr(torch, dt).is_floating_point):
        raise bad(f"dtype must be a floating torch dtype name, got {dt!r}")


def dequantize_packed(entry: dict[str, Any]) -> Tensor:
    r"""W = scale_B (levels[k] - z_B) of one packed entry (computed in the scale's dtype, rounded
    once to ``dtype``), shape ``shape``."""
    shape = tuple(entry["shape"])
    numel = 1
    for s in shape:
        numel *= s
    sc = entry["scale"]
    lv = entry["levels"].to(sc.dtype)
    k = unpack_codes(entry["packed"], entry["bits"], numel).reshape(shape)
    v = lv[k]
    zp = entry.get("zero_point")
    axis, g = entry.get("axis"), entry.get("group_size")
    blockwise = g is not None or zp is not None
    if zp is not None:
        v = v - _expand(zp.to(sc.dtype), shape, axis, g)
    if blockwise:
        a = _expand(sc, shape, axis, g)
    elif axis is None:
        a = sc
    else:
        view = [1] * len(shape)
        view[axis] = -1
        a = sc.reshape(view)
    return (a * v).to(getattr(torch, entry["dtype"]))


@torch.no_grad()
def load_packed(model: nn.Module, packed: dict[str, dict[str, Any]] | str | os.PathLike
                ) -> nn.Module:
    """Write every packed tensor into the model's parameter of that name, after checking every
    entry (all fields, every code, the padding bits, the scale/zero-point layout, the shape).
    ``packed``: :func:`export_packed`'s dict or a file holding it (read with
    ``torch.load(weights_only=True)`` by :func:`qopt.io.load_state_file`: no code runs)."""
    from qopt.export import write_entries

    def decode(name: str, e: Any) -> Tensor:
        _check(name, e)
        return dequantize_packed(e)

    return write_entries(model, packed, decode, "packed", "export_packed")
