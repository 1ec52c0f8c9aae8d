r"""How a set's levels are laid out, for the flat (CPU, numpy) path of the certified search.

A :class:`Coder` records whether the unit levels are an arithmetic grid with a power-of-two step
d, either :math:`d\{-K, \dots, K\}` ("int": ``Uniform``, ``Ternary``) or
:math:`d\{\pm\frac12, \dots\}` ("half": ``Symmetric``, ``Binary``), or anything else
("generic"), together with the float64 levels, the midpoints
(:func:`theory.sets.level_midpoints`) and the code of the level nearest to 0+ (the zero point's
code). On an arithmetic grid the value of code c is :math:`(c - (k-1)/2)\,d` exactly, so
:math:`q = \alpha\, l_c` is formed with one rounding without a table lookup
(:func:`qopt.projection.batched.project_group`).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from theory.sets import QuantSet, level_midpoints

__all__ = ["Coder", "coder"]


class Coder(NamedTuple):
    """How to code one set: ``kind`` "int" (d{-K..K}), "half" (d{±1/2..}) or "generic"."""

    kind: str
    d: float
    levels: np.ndarray  # float64 unit levels
    mids: np.ndarray  # float64 midpoints
    zero: int  # code of the level nearest to 0+


@functools.lru_cache(maxsize=256)
def coder(qset: QuantSet) -> Coder:
    """The coder of ``qset`` (cached)."""
    lv = qset.levels
    mids = level_midpoints(lv) if len(lv) > 1 else np.zeros(0)
    zero = int(np.searchsorted(mids, 0.0, side="right"))
    k = len(lv)
    kind, d = "generic", 1.0
    if k >= 2 and np.array_equal(lv, -lv[::-1]):
        step = float(lv[-1] - lv[-2])
        if step > 0 and np.frexp(step)[0] == 0.5:
            j = np.arange(k, dtype=np.float64)
            if np.array_equal(lv, step * (j - (k - 1) / 2.0)):
                kind, d = ("int" if k % 2 else "half"), step
    return Coder(kind, d, lv, mids, zero)
