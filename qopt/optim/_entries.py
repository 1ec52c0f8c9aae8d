"""The quantized tensors of a :class:`~qopt.QuantOptimizer`: one entry per parameter.

An entry holds the parameter (the forward point u the model computes with), its latent float copy
w, the set Q and projection axis, a display name, and the projection the optimizer keeps for the
current latent (per-slice scale, codes; the quantized tensor is ``scale * levels[codes]``, which
is why it need not be stored). Groups are validated here, with errors naming the parameter.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from qopt.projection import check_qset, compute_dtype, tables
from theory._validate import check_axis
from theory.sets import Affine

__all__ = ["Entry", "make_entries", "param_names", "code_dtype"]


def code_dtype(n_levels: int) -> torch.dtype:
    """Smallest signed integer dtype holding the code indices 0..n_levels-1."""
    if n_levels <= 128:
        return torch.int8
    if n_levels <= 2**15:
        return torch.int16
    return torch.int32


class Entry:
    """One quantized tensor (see the module docstring)."""

    __slots__ = ("param", "latent", "qset", "axis", "name", "group", "hint", "scale", "codes",
                 "levels", "lazy_sign", "group_size", "zero_point")

    def __init__(self, param: Tensor, qset: Any, axis: int | None, name: str, group: int,
                 group_size: int | None = None):
        self.param, self.qset, self.axis, self.name, self.group = param, qset, axis, name, group
        self.group_size = group_size  # one scale per block of g entries of each row (or None)
        self.latent = param.detach().clone()
        self.hint: Tensor | None = None  # last optimal scale(s): a warm start, never the answer
        self.scale: Tensor | None = None  # kept projection: scale per slice (C,) or per block
        self.codes: Tensor | None = None  # kept projection: codes (small int dtype)
        self.zero_point: Tensor | None = None  # affine sets: zero point(s), shaped like scale
        self.lazy_sign = False  # one-scale Binary: codes are (latent >= 0), read when asked
        cd = compute_dtype(param.dtype)
        if isinstance(qset, Affine):  # the codes l = 0..2^b-1; q = scale * (l - z)
            self.levels = torch.tensor(qset.code_levels, dtype=cd, device=param.device)
        else:
            self.levels = tables(qset, cd, param.device)["levels"]

    @property
    def blockwise(self) -> bool:
        """True when the scale is per block (``group_size``) or there is a zero point."""
        return self.group_size is not None or isinstance(self.qset, Affine)

    def scale_map(self) -> Tensor:
        """The scale broadcastable against the parameter: 0-d (per tensor), shaped along
        ``axis`` (per slice), or per entry (the shape of the parameter) for blocks."""
        if self.blockwise:
            from qopt.projection.blocks import expand_blocks

            return expand_blocks(self.scale, self.latent.shape, self.axis, self.group_size)
        if self.axis is None:
            return self.scale[0]
        shape = [1] * self.latent.dim()
        shape[self.axis] = -1
        return self.scale.reshape(shape)

    def offset_map(self) -> Tensor | None:
        """The zero point per entry (compute dtype, shape of the parameter), or None."""
        if self.zero_point is None:
            return None
        from qopt.projection.blocks import expand_blocks

        return expand_blocks(self.zero_point, self.latent.shape, self.axis,
                             self.group_size).to(self.levels.dtype)

    def kept_codes(self) -> Tensor:
        """int64 codes of the kept projection P(latent) (shape of the parameter)."""
        if self.lazy_sign:
            return (self.latent >= 0).long()
        assert self.codes is not None
        return self.codes.long()

    def kept_q(self) -> Tensor:
        """P(latent) = scale * levels[codes], bitwise the tensor the projection wrote, in the
        parameter's dtype."""
        codes = self.kept_codes()
        if self.blockwise:
            lv = self.levels[codes]
            off = self.offset_map()
            q = self.scale_map() * (lv if off is None else lv - off)
        elif self.axis is None:
            q = self.scale[0] * self.levels[codes]
        else:
            shape = [1] * codes.dim()
            shape[self.axis] = -1
            q = self.scale.reshape(shape) * self.levels[codes]
        return q.to(self.param.dtype)

    def kept_scale(self) -> Tensor:
        """The scale, 0-d (per tensor) or shaped to broadcast along ``axis`` (a copy); per
        entry (the parameter's shape) for blocks."""
        if self.blockwise:
            return self.scale_map().clone()
        if self.axis is None:
            return self.scale[0].clone()
        shape = [1] * self.latent.dim()
        shape[self.axis] = -1
        return self.scale.reshape(shape).clone()


def param_names(group: dict[str, Any], gi: int) -> list[str]:
    """Display names of a group's parameters (its ``"names"``, else ``g<group>.p<index>``)."""
    params, names = group["params"], group.get("names")
    if names is not None and len(names) != len(params):
        raise ValueError(f"param_groups[{gi}]['names'] has {len(names)} entries for "
                         f"{len(params)} parameters")
    return [str(names[pi]) if names is not None else f"g{gi}.p{pi}" for pi in range(len(params))]


def make_entries(group: dict[str, Any], gi: int) -> list[Entry]:
    """Entries of a base-optimizer group (none for a float group, i.e. without ``"qset"``)."""
    names = param_names(group, gi)
    if group.get("qset") is None:
        return []
    qset = check_qset(group["qset"], f"param_groups[{gi}]['qset']")
    out = []
    for p, name in zip(group["params"], names):
        if not p.dtype.is_floating_point:
            raise TypeError(f"quantized parameter {name} must be floating, got {p.dtype}")
        try:
            ax = check_axis(group.get("axis"), p.dim())
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"param_groups[{gi}] parameter {name} of shape "
                            f"{tuple(p.shape)}: {exc}") from None
        if p.numel() == 0:
            raise ValueError(f"quantized parameter {name} is empty")
        try:
            from qopt.projection.blocks import check_group_size

            g = check_group_size(group.get("group_size"), f"param_groups[{gi}]['group_size']")
        except (TypeError, ValueError) as exc:
            raise type(exc)(str(exc)) from None
        out.append(Entry(p, qset, ax, name, gi, g))
    return out
