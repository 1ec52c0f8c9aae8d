r"""Tolerances of the quantizer checks: explicit, scaled with the dtype, the input and the output.

Two kinds of tolerance (derivations: ``docs/math/verifier-tolerances.md``).

**Entries** (membership, idempotence, equivariance, symmetry, prox invariance) compare values
entry by entry. A quantizer working in a floating dtype with unit roundoff :math:`\varepsilon`
(``finfo.eps``) computes its scale as a ratio of sums of n terms and its output as scale × level.
With pairwise (numpy/torch) summation the relative error of a sum is :math:`O(\varepsilon \log_2
n)`, so we use

.. math::

    r = c\,\varepsilon\,(1 + \log_2 n), \qquad c = 32 \text{ by default},

and compare :math:`|a_i - b_i| \le r \max_j |w_j|` per slice (errors of size scale × level are
relative to the largest entry, not to each entry: a small level of a large scale carries the
scale's error). **16-bit formats** (float16, bfloat16) are storage formats: reductions over them
accumulate in float32 (torch does so on CPU and GPU), so the only error left is rounding the
output; there :math:`r = (c/8)\,\varepsilon` (4ε by default, no log n factor).

**Values** (optimality, prox value, orthogonality, and the "equally good" test of a tie) are
compared against a *rounding slack* (:class:`RoundingSlack`) computed per slice from the input
w and the output q itself: what rounding the output of an exact projection to the dtype, a scale
off by its own rounding, codes decided at near-ties in the accumulation dtype and the float64
evaluation of the reference can explain, and nothing more:

.. math::

    S(w, q) = c_v\Big[\,2u_o \sum_i |q_i|\,|w_i - q_i| + 4u_a \sum_i |w_i|\,|w_i - q_i|
      + \big(\delta^2 + 4u_a(u_a + 2u)\big)\|w\|^2 + (8 + 4\log_2 n)\,u_{64}\,(\|w\|^2 + \|q\|^2)
      \Big] + n\,\text{tiny}^2,

u the output dtype's unit roundoff (ε/2), :math:`u_a` the accumulation dtype's (float32 for the
16-bit formats), :math:`u_o = u/(1-u)` (free scale) or :math:`2u/(1-u)` (fixed scale: the scale
itself is rounded too), :math:`\delta = u + (2 + \log_2 n)\,u_a` the relative error of a scale
computed by pairwise sums and stored in the dtype, :math:`u_{64} = 2^{-53}`, and
:math:`c_v = c/16` (2 at the default c = 32). The first-order part is of order
:math:`\varepsilon\|w - q\|\,\|w\|` (Cauchy-Schwarz), far below :math:`r\|w\|^2`: an 8-bit
absmax rule, whose whole squared error is smaller than :math:`r\|w\|^2` in float32, is judged.

**Resolution floor (ties below the dtype's resolution).** A floating dtype has relative
resolution ε only down to its smallest normal number ``tiny`` (``finfo.tiny``: 1.2e-38 for
float32 and bfloat16, 2.2e-308 for float64, 6.1e-5 for float16); below it (subnormals) it keeps
no relative precision, and a magnitude under ``tiny`` is 0 at the dtype's resolution. So two
entries whose magnitudes are both at most ``tiny`` are a tie, and squared quantities over n
entries get the matching floor :math:`n\,\text{tiny}^2` (the last term of S).
So a float32 quantizer that outputs 1e-38 where the exact answer is 0 (a clamp idiom such as
``scale.clamp(min=1e-38)`` at w = 0) ties with the exact projection, and the counterexamples of
the checks point at real errors; in float64 the same 1e-38 is far above ``tiny`` and is
reported. The floor never loosens comparisons of normal numbers (at any scale the checks test).

Derived here. The constant ``c`` and the dtype are parameters of ``verify_quantizer``;
``rtol=`` overrides ``r`` entirely and then the value checks use the input-relative bound
:math:`r\|w\|^2` instead of S (the looser rule of earlier versions). Determinism is checked
bitwise (tolerance 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["RoundingSlack", "Tolerance", "unit_roundoffs"]


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


#: unit roundoff of float64, the verifier's (and the reference's) working precision
U64 = 2.0**-53


def unit_roundoffs(dtype: object) -> tuple[float, float]:
    """(u, u_a): unit roundoff (eps/2) of ``dtype`` and of the dtype its sums accumulate in
    (float32 for float16 and bfloat16, the dtype itself otherwise).

    Raises:
        TypeError: ``dtype`` is not a floating dtype.
    """
    if str(dtype) in ("bfloat16", "torch.bfloat16"):
        return 2.0**-8, 2.0**-24
    try:
        info = np.finfo(np.dtype(str(dtype).replace("torch.", "")))
    except (TypeError, ValueError):
        raise TypeError(f"dtype must be a floating dtype, got {dtype!r}") from None
    u = float(info.eps) / 2.0
    return (u, 2.0**-24) if info.bits <= 16 else (u, u)


@dataclass(frozen=True)
class RoundingSlack:
    r"""The rounding slack S(w, q) of the value checks (module docstring; derivation in
    ``docs/math/verifier-tolerances.md``), per slice of row-shaped float64 arrays (C, n).

    Attributes:
        u: unit roundoff of the output dtype.
        u_acc: unit roundoff of the accumulation dtype.
        fixed_scale: the set's scale is fixed (the output carries the scale's rounding too).
        factor: :math:`c_v`, the safety factor on the derived bound (2 by default).
        tiny: the resolution floor (smallest normal number of the dtype).
    """

    u: float
    u_acc: float
    fixed_scale: bool = False
    factor: float = 2.0
    tiny: float = 0.0

    @classmethod
    def for_dtype(cls, dtype: object, fixed_scale: bool = False,
                  tol_factor: float = 32.0) -> RoundingSlack:
        """The slack for outputs in ``dtype``; ``tol_factor`` c gives :math:`c_v = c/16`.

        Raises:
            TypeError: ``dtype`` is not a floating dtype.
            ValueError: ``tol_factor`` not finite and > 0.
        """
        if not (math.isfinite(tol_factor) and tol_factor > 0):
            raise ValueError(f"tol_factor must be finite and > 0, got {tol_factor}")
        u, ua = unit_roundoffs(dtype)
        return cls(u, ua, bool(fixed_scale), tol_factor / 16.0, Tolerance.tiny_of(dtype))

    @property
    def u_out(self) -> float:
        """Relative error of one output entry: u/(1-u), twice that with a fixed scale."""
        k = 2.0 if self.fixed_scale else 1.0
        return k * self.u / (1.0 - self.u)

    def delta(self, n: int) -> float:
        """Relative error of a free scale: stored in the dtype, pairwise sums of n terms."""
        return 0.0 if self.fixed_scale else self.u + (2.0 + math.log2(max(n, 1))) * self.u_acc

    def evaluation(self, w: np.ndarray, q: np.ndarray) -> np.ndarray:
        n = w.shape[1]
        return (8.0 + 4.0 * math.log2(max(n, 1))) * U64 * (np.sum(w * w, 1) + np.sum(q * q, 1))

    def optimality(self, w: np.ndarray, q: np.ndarray, input_rounding: bool = False
                   ) -> np.ndarray:
        r"""Per slice: how far :math:`\|w-q\|^2` may exceed :math:`\mathrm{dist}(w,Q)^2` when q
        is an exact projection rounded to the dtype. ``input_rounding``: w itself is a rounded
        version of the input the output was computed for (the transformed inputs of the
        equivariance checks), which adds :math:`4u\sum|w_i||w_i-q_i|`."""
        n = w.shape[1]
        res = np.abs(w - q)
        a_q = np.sum(np.abs(q) * res, 1)
        a_w = np.sum(np.abs(w) * res, 1)
        ua = self.u_acc + (self.u if input_rounding else 0.0)
        second = self.delta(n) ** 2 + 4.0 * self.u_acc * (self.u_acc + 2.0 * self.u)
        core = (2.0 * self.u_out * a_q + 4.0 * ua * a_w + second * np.sum(w * w, 1)
                + self.evaluation(w, q))
        return self.factor * core + n * self.tiny**2

    def orthogonality(self, w: np.ndarray, q: np.ndarray) -> np.ndarray:
        r"""Per slice: how far :math:`|\langle w-q, q\rangle|` may be from 0 when q is an exact
        projection onto a cone (least-squares scale for its codes) rounded to the dtype."""
        n = w.shape[1]
        d, uo = self.delta(n), self.u_out
        q2 = np.sum(q * q, 1)
        core = ((d * (1.0 + d) + uo * (1.0 + uo)) * q2 + uo * np.sum(np.abs(q) * np.abs(w - q), 1)
                + self.evaluation(w, q))
        return self.factor * core + n * self.tiny**2
