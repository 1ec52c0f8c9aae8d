r"""Quantization sets: the shared vocabulary of theory/, qopt/ and proofs_check/.

Every set is a small immutable (frozen, hashable) object describing

.. math::

    Q = \{\alpha z : z \in L^n\}, \qquad L = \{l_0 < l_1 < \dots < l_{k-1}\} \subset \mathbb{R},

where :math:`L` are the *unit levels* and the scale :math:`\alpha` is either **free**
(:math:`\alpha \ge 0` chosen by the projection; the set is then a closed cone) or **fixed** by the
user (hard quantization onto the given values :math:`\alpha L`). Per-output-channel sets are the
Cartesian product of one such set per slice; that is a property of the projection call
(``axis=``), not of the set.

========================  ========================================  ============================
set                        unit levels :math:`L`                     source
========================  ========================================  ============================
``Binary()``               :math:`\{-1, +1\}`                         BinaryConnect / BinaryRelax
``Ternary()``              :math:`\{-1, 0, +1\}`                      TWN; exact form Yin et al.
``Uniform(bits)``          :math:`\{-K,\dots,K\}`, K = 2^(b-1) - 1    BCGD code (``quantize_fbit``)
``Symmetric(bits)``        :math:`\{\pm 1/2, \dots, \pm(2^b-1)/2\}`   UniQ (no zero level)
``Grid(levels, scale)``    any finite sorted set                      user-defined
``Int(bits)``              :math:`\{-2^{b-1},\dots,2^{b-1}-1\}`       two's-complement int (torch)
``NF4()``                  the 16 NormalFloat4 levels                 QLoRA (Dettmers et al. 2023)
``Affine(bits)``           :math:`\{0..2^b-1\} - z`, integer z         asymmetric uint (torchao)
========================  ========================================  ============================

``Affine`` is a finite union of cones (one per zero point z), not one level table: its levels
differ per slice, so it has no :attr:`QuantSet.unit_levels`; :mod:`theory.affine` projects onto
it. One scale per block of ``group_size`` consecutive weights is a property of the projection
call (``group_size=``, :mod:`theory.groups`), like ``axis``.

Text specs (used by the CLI and by study configs) are parsed by :func:`parse_qset`:
``binary``, ``ternary``, ``uniform:4``, ``symmetric:2``, ``grid:-1,0,1`` (fixed scale 1),
``scaled:-4,-2,-1,0,1,2,4`` (free scale over these unit levels), ``int:4`` ({-8..7}),
``nf4``, ``uint:4`` (affine with an integer zero point); a suffix ``@S`` fixes the scale,
e.g. ``uniform:4@0.05`` (not for ``uint``, whose scale is always free).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from theory._validate import check_int, check_positive_scalar

__all__ = [
    "QuantSet",
    "Binary",
    "Ternary",
    "Uniform",
    "Symmetric",
    "Grid",
    "Int",
    "NF4",
    "NF4_LEVELS",
    "Affine",
    "parse_qset",
    "level_midpoints",
    "MAX_BITS",
    "is_affine",
]

#: Largest bit width accepted by ``Uniform``/``Symmetric``. The exact free-scale projection costs
#: O(n 2^(b-1) log n); beyond 16 bits the set is numerically indistinguishable from the reals.
MAX_BITS = 16


def _check_scale(scale: object) -> float | None:
    if scale is None:
        return None
    return check_positive_scalar(scale, "scale")


def _check_scaled_levels(levels: tuple[float, ...], scale: float | None) -> None:
    """A fixed scale must keep every value ``scale * level`` finite (the set's points)."""
    if scale is not None and not math.isfinite(scale * max(abs(v) for v in levels)):
        raise ValueError(f"scale * levels must be finite (largest float {np.finfo(float).max:g}), "
                         f"got scale={scale!r} with levels up to {max(abs(v) for v in levels)!r}")


def level_midpoints(levels: np.ndarray) -> np.ndarray:
    r"""Decision thresholds :math:`m_j = (l_j + l_{j+1})/2` of sorted float64 ``levels``.

    Computed as ``(a + b)/2``, or as ``a/2 + b/2`` where ``a + b`` overflows (levels near the
    largest float, e.g. ``Grid([1e308, 1.7e308])``). Both give the correctly rounded midpoint:
    the first rounds once in the sum (halving a normal number is exact; a subnormal sum is exact
    and is halved with one rounding), the second is used only for huge a, b, whose halves are
    exact.
    """
    lv = np.asarray(levels, dtype=np.float64)
    a, b = lv[:-1], lv[1:]
    with np.errstate(over="ignore"):
        s = a + b
    return np.where(np.isfinite(s), s / 2.0, a / 2.0 + b / 2.0)


@dataclass(frozen=True)
class QuantSet:
    """Base class of quantization sets. Subclasses define :attr:`unit_levels`.

    Attributes:
        scale: ``None`` for a free scale :math:`\\alpha \\ge 0` (the set is a cone), or a fixed
            positive float (the set is the finite set ``scale * unit_levels`` per element).
    """

    scale: float | None = None

    # -- what every set knows -------------------------------------------------------------
    @property
    def unit_levels(self) -> tuple[float, ...]:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def levels(self) -> np.ndarray:
        """Unit levels as a sorted float64 array (a fresh copy)."""
        return np.array(self.unit_levels, dtype=np.float64)

    @property
    def n_levels(self) -> int:
        return len(self.unit_levels)

    @property
    def midpoints(self) -> np.ndarray:
        """Decision thresholds (l_j + l_{j+1})/2 between consecutive unit levels
        (:func:`level_midpoints`: no overflow for levels near the largest float)."""
        return level_midpoints(self.levels)

    @property
    def is_cone(self) -> bool:
        """True iff the scale is free: then Q is a closed cone (αQ ⊆ Q for α ≥ 0, 0 ∈ Q)."""
        return self.scale is None

    @property
    def is_symmetric(self) -> bool:
        """True iff L = -L, so that P(-w) = -P(w) up to the tie convention."""
        lv = self.levels
        return bool(np.array_equal(lv, -lv[::-1]))

    @property
    def has_zero(self) -> bool:
        return 0.0 in self.unit_levels

    @property
    def spec(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def _suffix(self) -> str:
        return "" if self.scale is None else f"@{self.scale!r}"

    def __str__(self) -> str:
        return self.spec


@dataclass(frozen=True)
class Binary(QuantSet):
    r"""Scaled binary set :math:`\{\alpha s: s \in \{-1,+1\}^n\}`.

    Projection (free scale): :math:`\alpha = \|w\|_1/n`, :math:`P(w) = \alpha\,\mathrm{sign}(w)`
    with sign(0) = +1 [BinaryRelax / BCGD released code ``quantize_bw``;
    ``docs/math/quantization-sets.md#binary``].
    """

    @property
    def unit_levels(self) -> tuple[float, ...]:
        return (-1.0, 1.0)

    @property
    def bits(self) -> int:
        return 1

    @property
    def spec(self) -> str:
        return "binary" + self._suffix()

    def __post_init__(self) -> None:
        object.__setattr__(self, "scale", _check_scale(self.scale))
        _check_scaled_levels(self.unit_levels, self.scale)


@dataclass(frozen=True)
class Ternary(QuantSet):
    r"""Scaled ternary set :math:`\{\alpha z: z \in \{-1,0,+1\}^n\}`.

    Exact projection: sort |w| decreasingly, :math:`S_t` = sum of the t largest, then
    :math:`t^* = \arg\max_t S_t^2/t`, :math:`\alpha = S_{t^*}/t^*` [derived
    here, checked against brute force; ``docs/math/quantization-sets.md#ternary``].
    """

    @property
    def unit_levels(self) -> tuple[float, ...]:
        return (-1.0, 0.0, 1.0)

    @property
    def spec(self) -> str:
        return "ternary" + self._suffix()

    def __post_init__(self) -> None:
        object.__setattr__(self, "scale", _check_scale(self.scale))
        _check_scaled_levels(self.unit_levels, self.scale)


@dataclass(frozen=True)
class Uniform(QuantSet):
    r"""Symmetric uniform grid with zero: :math:`\alpha\{-K,\dots,K\}^n`, :math:`K = 2^{b-1}-1`.

    ``bits`` = b in [2, MAX_BITS]; 2 bits is ternary (K = 1), 4 bits has 15 levels as in the BCGD
    code's ``quantize_fbit`` (``docs/math/quantization-sets.md#sets``).
    """

    bits: int = 2
    scale: float | None = None

    def __init__(self, bits: int, scale: float | None = None) -> None:
        object.__setattr__(self, "bits", check_int(bits, "bits", 2, MAX_BITS))
        object.__setattr__(self, "scale", _check_scale(scale))
        _check_scaled_levels(self.unit_levels, self.scale)

    @property
    def K(self) -> int:
        return 2 ** (self.bits - 1) - 1

    @property
    def unit_levels(self) -> tuple[float, ...]:
        return tuple(float(k) for k in range(-self.K, self.K + 1))

    @property
    def spec(self) -> str:
        return f"uniform:{self.bits}" + self._suffix()


@dataclass(frozen=True)
class Symmetric(QuantSet):
    r"""UniQ's symmetric grid without a zero level: :math:`\alpha\{\pm\tfrac12,\pm\tfrac32,\dots,
    \pm\tfrac{2^b-1}{2}\}^n`.

    ``bits`` = b in [1, MAX_BITS]; b = 1 gives :math:`\{\pm\alpha/2\}`, i.e. binarization
    [UniQ released code; ``docs/math/uniq.md#weight-quantizer``]. With UniQ's step Δ the levels
    are Δ·L, so Δ = scale.
    """

    bits: int = 1
    scale: float | None = None

    def __init__(self, bits: int, scale: float | None = None) -> None:
        object.__setattr__(self, "bits", check_int(bits, "bits", 1, MAX_BITS))
        object.__setattr__(self, "scale", _check_scale(scale))
        _check_scaled_levels(self.unit_levels, self.scale)

    @property
    def unit_levels(self) -> tuple[float, ...]:
        m = 2**self.bits - 1
        return tuple((2 * j - m) / 2.0 for j in range(0, m + 1))

    @property
    def spec(self) -> str:
        return f"symmetric:{self.bits}" + self._suffix()


@dataclass(frozen=True)
class Grid(QuantSet):
    r"""Any finite set of unit levels (powers of two, non-uniform, asymmetric).

    ``Grid(levels, scale=1.0)`` is hard quantization onto ``scale * levels``;
    ``Grid(levels, scale=None)`` frees the scale, giving the cone :math:`\{\alpha z: \alpha \ge 0,
    z \in L^n\}` (which then needs at least one non-zero level).

    Args:
        levels: strictly increasing finite reals (a duplicate or unsorted list is rejected, since
            it almost always signals a typo in a hand-written grid).
        scale: a positive fixed scale, or ``None`` for a free one. Default 1.0.
    """

    levels_: tuple[float, ...] = field(default=(), repr=False)
    scale: float | None = 1.0

    def __init__(self, levels: object, scale: float | None = 1.0) -> None:
        if isinstance(levels, (str, bytes)) or not hasattr(levels, "__iter__"):
            raise TypeError(f"levels must be a sequence of reals, got {type(levels).__name__}")
        arr = np.asarray(list(levels) if not isinstance(levels, np.ndarray) else levels)
        if arr.ndim != 1:
            raise ValueError(f"levels must be one-dimensional, got shape {arr.shape}")
        if arr.size == 0:
            raise ValueError("levels must be non-empty")
        if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
            raise TypeError(f"levels must be real numbers, got dtype={arr.dtype}")
        arr = arr.astype(np.float64)
        if not np.all(np.isfinite(arr)):
            raise ValueError("levels must be finite, found NaN or Inf")
        if arr.size > 1 and not np.all(np.diff(arr) > 0):
            raise ValueError(
                f"levels must be strictly increasing (sorted, no duplicates), got {arr.tolist()}"
            )
        scale = _check_scale(scale)
        if scale is None and not np.any(arr != 0):
            raise ValueError("a free-scale Grid (scale=None) needs at least one non-zero level")
        _check_scaled_levels(tuple(float(v) for v in arr), scale)
        object.__setattr__(self, "levels_", tuple(float(v) for v in arr))
        object.__setattr__(self, "scale", scale)

    @property
    def unit_levels(self) -> tuple[float, ...]:
        return self.levels_

    @property
    def spec(self) -> str:
        body = ",".join(_fmt(v) for v in self.levels_)
        if self.scale is None:
            return f"scaled:{body}"
        if self.scale == 1.0:
            return f"grid:{body}"
        return f"grid:{body}@{self.scale!r}"


@dataclass(frozen=True)
class Int(QuantSet):
    r"""Two's-complement integer grid :math:`\alpha\{-2^{b-1}, \dots, 2^{b-1}-1\}^n`
    (``torch.int8`` for b = 8; int4 as stored by int4 weight-only LLM kernels: 16 levels, one more
    on the negative side than ``Uniform(b)``).

    ``bits`` = b in [2, MAX_BITS]. Asymmetric (``is_symmetric`` is False): the projection is the
    free-scale breakpoint sweep over these levels, exact like every level table
    (``docs/math/quantization-sets.md#int-uint-nf4``).
    """

    bits: int = 4
    scale: float | None = None

    def __init__(self, bits: int, scale: float | None = None) -> None:
        object.__setattr__(self, "bits", check_int(bits, "bits", 2, MAX_BITS))
        object.__setattr__(self, "scale", _check_scale(scale))
        _check_scaled_levels(self.unit_levels, self.scale)

    @property
    def unit_levels(self) -> tuple[float, ...]:
        h = 2 ** (self.bits - 1)
        return tuple(float(k) for k in range(-h, h))

    @property
    def spec(self) -> str:
        return f"int:{self.bits}" + self._suffix()


#: The 16 NormalFloat4 levels of QLoRA (Dettmers et al. 2023, "QLoRA: Efficient Finetuning of
#: Quantized LLMs", Appendix E), as hard-coded in bitsandbytes (``csrc/kernels.cu``,
#: ``dDequantizeNF4``, and ``bitsandbytes.functional.get_4bit_type('nf4')``): float32 values,
#: exactly representable in float64, in this order.
NF4_LEVELS: tuple[float, ...] = (
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
    -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
    0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
    0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
)


@dataclass(frozen=True)
class NF4(QuantSet):
    r"""QLoRA's NormalFloat4 grid :math:`\alpha\,L_{NF4}` (:data:`NF4_LEVELS`, 16 levels in
    [-1, 1], asymmetric: 7 negative, 0, 8 positive).

    Free scale (default): the exact L2 projection (the breakpoint sweep, as for any table). QLoRA
    itself uses the absmax scale :math:`\alpha = \max_i|w_i|` per block of 64 with nearest
    levels; that rule is :func:`theory.approximate.absmax`, measured against this projection.
    """

    scale: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "scale", _check_scale(self.scale))
        _check_scaled_levels(self.unit_levels, self.scale)

    @property
    def unit_levels(self) -> tuple[float, ...]:
        return NF4_LEVELS

    @property
    def spec(self) -> str:
        return "nf4" + self._suffix()


@dataclass(frozen=True)
class Affine(QuantSet):
    r"""Affine (asymmetric) b-bit set with an integer zero point, as PyTorch's ``quint8`` and
    torchao's ``choose_qparams_affine`` define it:

    .. math::

        Q = \{\alpha (l - z\mathbf{1}) : \alpha \ge 0,\ z \in \{0, \dots, 2^b-1\},\
            l \in \{0, \dots, 2^b-1\}^n\},

    one (α, z) per tensor, slice or block. The zero point ranges over the code range
    (``quant_min <= zero_point <= quant_max`` in torchao), so 0 is always representable. For a
    fixed z this is the free-scale cone over the unit levels :math:`\{-z, \dots, 2^b-1-z\}`
    (:meth:`shifted`), so Q is a union of :math:`2^b` cones and its projection is the best of
    :math:`2^b` exact projections (:mod:`theory.affine`). The codes of a point are l (indices
    into :attr:`code_levels`); there is no single level table, so :attr:`unit_levels` raises.

    ``bits`` = b in [1, 8] (the cost is :math:`2^b` sweeps; 8 bits is ``quint8``).
    """

    bits: int = 4

    def __init__(self, bits: int, scale: float | None = None) -> None:
        if scale is not None:
            raise ValueError("Affine has a free scale (and zero point) only; got a fixed "
                             f"scale={scale!r}")
        object.__setattr__(self, "bits", check_int(bits, "bits", 1, 8))
        object.__setattr__(self, "scale", None)

    @property
    def unit_levels(self) -> tuple[float, ...]:
        raise TypeError(f"{self.spec} has one level table per zero point, not one; use "
                        "code_levels, shifted(z), or theory.affine / qopt.projection.affine")

    @property
    def n_levels(self) -> int:
        return 2**self.bits

    @property
    def code_levels(self) -> tuple[float, ...]:
        """The codes l = 0, ..., 2^b - 1 as floats."""
        return tuple(float(k) for k in range(2**self.bits))

    @property
    def zero_points(self) -> range:
        """The admissible zero points 0, ..., 2^b - 1."""
        return range(2**self.bits)

    def shifted(self, z: int) -> Grid:
        """The cone of zero point z: free-scale ``Grid`` over the unit levels {-z, ..., 2^b-1-z}."""
        z = check_int(z, "z", 0, 2**self.bits - 1)
        return Grid([float(k - z) for k in range(2**self.bits)], scale=None)

    @property
    def is_symmetric(self) -> bool:
        return False

    @property
    def has_zero(self) -> bool:
        return True

    @property
    def spec(self) -> str:
        return f"uint:{self.bits}"


def is_affine(qset: object) -> bool:
    """True for an :class:`Affine` set (per-slice zero points; projected by theory.affine)."""
    return isinstance(qset, Affine)


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


#: the spec forms :func:`parse_qset` accepts (its error message and ``qopt verify quantizer
#: --help`` list these)
SPEC_FORMS = ("binary", "ternary", "uniform:B", "symmetric:B", "int:B", "uint:B", "nf4",
              "grid:l1,l2,...", "scaled:l1,l2,...")


def parse_qset(spec: str) -> QuantSet:
    """Parse a text spec into a set (inverse of ``QuantSet.spec``).

    Accepted: ``binary``, ``ternary``, ``uniform:B``, ``symmetric:B``, ``int:B``, ``nf4``,
    ``uint:B`` (affine, free scale and zero point), ``grid:l1,l2,...`` (fixed scale 1),
    ``scaled:l1,l2,...`` (free scale), each but ``uint`` optionally followed by ``@S`` to fix
    the scale to S > 0 (``grid:...@S`` sets the grid's scale).

    Raises:
        TypeError: ``spec`` is not a string.
        ValueError: unknown kind, malformed number, or invalid parameters.
    """
    if not isinstance(spec, str):
        raise TypeError(f"spec must be a string like 'ternary' or 'uniform:4', got {spec!r}")
    text = spec.strip().lower()
    scale: float | None = None
    if "@" in text:
        text, _, s = text.partition("@")
        try:
            scale = float(s)
        except ValueError:
            msg = f"spec {spec!r}: scale after '@' must be a number, got {s!r}"
            raise ValueError(msg) from None
        if not math.isfinite(scale) or scale <= 0:
            raise ValueError(f"spec {spec!r}: scale after '@' must be finite and > 0")
    kind, _, arg = text.partition(":")
    kinds = ", ".join(SPEC_FORMS)
    if kind in ("binary", "ternary"):
        if arg:
            raise ValueError(f"spec {spec!r}: '{kind}' takes no parameter")
        return Binary(scale=scale) if kind == "binary" else Ternary(scale=scale)
    if kind == "nf4":
        if arg:
            raise ValueError(f"spec {spec!r}: 'nf4' takes no parameter")
        return NF4(scale=scale)
    if kind in ("uniform", "symmetric", "int", "uint"):
        try:
            bits = int(arg)
        except ValueError:
            raise ValueError(f"spec {spec!r}: '{kind}' needs an integer bit width, e.g. "
                             f"'{kind}:4'") from None
        if kind == "uint":
            if scale is not None:
                raise ValueError(f"spec {spec!r}: 'uint' has a free scale and zero point; "
                                 "no '@S'")
            return Affine(bits)
        cls = {"uniform": Uniform, "symmetric": Symmetric, "int": Int}[kind]
        return cls(bits, scale)
    if kind in ("grid", "scaled"):
        try:
            levels = [float(t) for t in arg.split(",") if t.strip()]
        except ValueError:
            raise ValueError(f"spec {spec!r}: levels must be comma-separated numbers") from None
        if kind == "scaled":
            if scale is not None:
                raise ValueError(f"spec {spec!r}: 'scaled' has a free scale; use 'grid:...@S'")
            return Grid(levels, scale=None)
        return Grid(levels, scale=1.0 if scale is None else scale)
    raise ValueError(f"unknown quantization set {spec!r}; expected one of: {kinds}"
                     f"{_did_you_mean(kind, text, arg)}")


def _did_you_mean(kind: str, text: str, arg: str) -> str:
    """``"; did you mean 'ternary'?"`` for a misspelled set kind (difflib, similarity ≥ 0.6;
    the same rule as ``qopt.suggest``, which theory cannot import), with the parameter kept."""
    import difflib

    kinds = ["binary", "ternary", "uniform", "symmetric", "grid", "scaled"]
    hit = difflib.get_close_matches(kind, kinds, n=1)
    if not hit:
        return ""
    fixed = hit[0] + (f":{arg}" if arg and hit[0] not in ("binary", "ternary") else "")
    return f"; did you mean {fixed!r}?"
