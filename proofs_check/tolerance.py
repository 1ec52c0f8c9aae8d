r"""Tolerances of the quantizer checks: explicit, scaled with the dtype and the input's magnitude.

A quantizer working in a floating dtype with unit roundoff :math:`\varepsilon` (``finfo.eps``)
computes its scale as a ratio of sums of n terms and its output as scale × level. With pairwise
(numpy/torch) summation the relative error of a sum is :math:`O(\varepsilon \log_2 n)`, so we use

.. math::

    r = c\,\varepsilon\,(1 + \log_2 n), \qquad c = 32 \text{ by default},

and compare

* **entries** (membership, idempotence, equivariance, symmetry, determinism excluded):
  :math:`|a_i - b_i| \le r \max_j |w_j|` per slice (errors of size scale × level are relative to
  the largest entry, not to each entry: a small level of a large scale carries the scale's error);
* **squared distances and inner products** (optimality, orthogonality, prox value):
  :math:`\le r \|w\|^2` additively (and :math:`r\,\mathrm{dist}^2` relatively). A code flipped at a
  near-tie, i.e. where :math:`w_i` lies within :math:`\varepsilon|w_i|` of a decision threshold,
  changes :math:`\|w - q\|^2` by at most :math:`O(\varepsilon |w_i| \alpha)`, which is inside this
  bound; a genuinely wrong code or scale is not.

**16-bit formats** (float16, bfloat16) are storage formats: reductions over them accumulate in
float32 (torch does so on CPU and GPU), so the only error left is rounding the output, at most
:math:`\varepsilon/2` per entry; there :math:`r = (c/8)\,\varepsilon` (4ε by default, no
log n factor): 0.0039 for float16, 0.031 for bfloat16.

**Resolution floor (ties below the dtype's resolution).** A floating dtype has relative
resolution ε only down to its smallest normal number ``tiny`` (``finfo.tiny``: 1.2e-38 for
float32 and bfloat16, 2.2e-308 for float64, 6.1e-5 for float16); below it (subnormals) it keeps
no relative precision, and a magnitude under ``tiny`` is 0 at the dtype's resolution. So two
entries whose magnitudes are both at most ``tiny`` are a tie, and squared quantities over n
entries get the matching floor :math:`n\,\text{tiny}^2`:

.. math::

    |a_i - b_i| \le r \max_j |w_j| \ \text{or}\ |a_i|, |b_i| \le \text{tiny}
    \quad\text{(entries)},\qquad
    \delta \le r\|w\|^2 + n\,\text{tiny}^2 \quad\text{(squares)}.

So a float32 quantizer that outputs 1e-38 where the exact answer is 0 (a clamp idiom such as
``scale.clamp(min=1e-38)`` at w = 0) ties with the exact projection, and the counterexamples of
the checks point at real errors; in float64 the same 1e-38 is far above ``tiny`` and is
reported. The floor never loosens comparisons of normal numbers (at any scale the checks test).

Derived here. The constant ``c`` and the dtype are parameters of ``verify_quantizer``
(``rtol=`` overrides ``r`` entirely). Determinism is checked bitwise (tolerance 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Tolerance"]


@dataclass(frozen=True)
class Tolerance:
    """Relative tolerance ``r`` for a dtype and a slice length (see the module docstring).

    Attributes:
        rel: the relative tolerance r itself.
        tiny: the resolution floor (the dtype's smallest normal number; 0 = none).
    """

    rel: float
    tiny: float = 0.0

    @staticmethod
    def tiny_of(dtype: object) -> float:
        """The smallest normal number of a floating dtype (bfloat16: float32's).

        Raises:
            TypeError: ``dtype`` is not a floating dtype.
        """
        if str(dtype) in ("bfloat16", "torch.bfloat16"):
            return float(np.finfo(np.float32).tiny)
        try:
            return float(np.finfo(np.dtype(dtype)).tiny)
        except (TypeError, ValueError):
            raise TypeError(f"dtype must be a floating dtype, got {dtype!r}") from None

    @classmethod
    def for_dtype(cls, dtype: object, n: int, factor: float = 32.0) -> Tolerance:
        """:math:`r = c\\,\\varepsilon(\\mathrm{dtype})(1 + \\log_2 n)` (16-bit: (c/8)ε).

        Raises:
            TypeError: ``dtype`` is not a floating dtype.
            ValueError: ``n`` < 1 or ``factor`` not finite and > 0.
        """
        if str(dtype) in ("bfloat16", "torch.bfloat16"):
            eps, bits = 2.0**-7, 16
        else:
            try:
                info = np.finfo(np.dtype(dtype))
            except (TypeError, ValueError):
                raise TypeError(f"dtype must be a floating dtype, got {dtype!r}") from None
            eps, bits = float(info.eps), info.bits
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        if not (math.isfinite(factor) and factor > 0):
            raise ValueError(f"factor must be finite and > 0, got {factor}")
        tiny = cls.tiny_of(dtype)
        if bits <= 16:
            return cls(factor / 8.0 * eps, tiny)
        return cls(float(factor * eps * (1.0 + math.log2(n))), tiny)

    def entries(self, w_rows: np.ndarray) -> np.ndarray:
        """Per-row absolute tolerance for entries of normal magnitude: ``r * max|w_row|``
        (shape (C, 1)); entries both at most ``tiny`` tie regardless (:meth:`tie`)."""
        return self.rel * np.max(np.abs(w_rows), axis=1, keepdims=True)

    def tie(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Entries where a and b are both 0 at the dtype's resolution (``|.| <= tiny``)."""
        return (np.abs(a) <= self.tiny) & (np.abs(b) <= self.tiny)

    def squares(self, w_rows: np.ndarray) -> np.ndarray:
        """Per-row absolute tolerance for squared norms / inner products:
        ``r * ||w_row||^2 + n * tiny^2``."""
        return self.rel * np.sum(w_rows * w_rows, axis=1) + w_rows.shape[1] * self.tiny**2
