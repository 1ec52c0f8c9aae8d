"""Hypothesis strategies for quantizer tests: weights with their edge cases, and sets.

Domain-named strategies in the style of astropy's ``test_precision.py`` (astropy/astropy
``astropy/time/tests/test_precision.py``): they
deliberately include the inputs where quantizers break, and shrink to obvious counterexamples
(small integers, few entries):

* **zeros** (``sign(0)``, the zero level, all-zero slices);
* **ties** in magnitude (``|w_i| = |w_j|``, opposite signs), which make the free-scale optimum
  non-unique and expose asymmetric tie rules;
* **decision thresholds** of a fixed-scale set (midpoints ``scale·(l_j + l_{j+1})/2``);
* **wide dynamic range**: each entry times :math:`2^e`, and in 2-D each slice times its own
  :math:`2^{e}` (a per-channel quantizer that uses one global scale fails there).

Use in your own tests::

    from hypothesis import given
    from proofs_check.strategies import weights
    @given(weights())
    def test_mine(w): ...
"""

from __future__ import annotations

import functools
import math

import numpy as np
from hypothesis import strategies as st

from theory.sets import Binary, Grid, QuantSet, Symmetric, Ternary, Uniform

__all__ = ["exponent_range", "quant_sets", "weight_matrices", "weights", "weights_for"]


def exponent_range(dtype: object) -> int:
    """Largest |e| used for the 2^e magnitudes, so every value stays normal in ``dtype``:
    20 for float64, 12 for float32, 5 for float16 (about 3e-5 .. 3e4 with the mantissas)."""
    bits = np.dtype(dtype).itemsize * 8 if str(dtype) != "bfloat16" else 16
    return {64: 20, 32: 12}.get(bits, 5)


def _mantissas() -> st.SearchStrategy[float]:
    """Non-zero reals with 1/16 <= |v| <= 8 (zeros and tiny magnitudes come separately, from the
    explicit 0.0 and the 2^e factors, so squares never underflow in the reference math)."""
    mag = st.floats(0.0625, 8.0, allow_nan=False, allow_infinity=False)
    return st.tuples(st.booleans(), mag).map(lambda t: -t[1] if t[0] else t[1])


@functools.lru_cache(maxsize=64)
def _values(n: int, specials: tuple[float, ...], emax: int) -> st.SearchStrategy[list[float]]:
    """n values: each a fresh number, a shared magnitude (±, so ties in |w|), 0, or a special
    value; fresh and tied values times 2^e (e = 0 unless ``emax`` > 0)."""
    kinds = 4 if specials else 3
    entry = st.tuples(st.integers(0, kinds - 1), _mantissas(), st.integers(-emax, emax))

    def build(t: tuple[float, list[tuple[int, float, int]]]) -> list[float]:
        tie, ents = t
        out = []
        for kind, m, e in ents:
            if kind == 0:  # a fresh value
                out.append(m * 2.0**e)
            elif kind == 1:  # the shared magnitude, with this entry's sign
                out.append(math.copysign(tie, m) * 2.0**e)
            elif kind == 2:
                out.append(0.0)
            else:  # a threshold or level of a fixed-scale set
                out.append(specials[e % len(specials)])
        return out

    return st.tuples(_mantissas(), st.lists(entry, min_size=n, max_size=n)).map(build)


def _specials(qset: QuantSet | None) -> tuple[float, ...]:
    if qset is None or qset.scale is None:
        return ()
    return tuple(float(m) for m in qset.midpoints * qset.scale) + tuple(
        float(v) for v in qset.levels * qset.scale)


def weights(
    min_size: int = 1,
    max_size: int = 12,
    *,
    qset: QuantSet | None = None,
    dtype: object = np.float64,
    wide_range: bool = True,
) -> st.SearchStrategy[np.ndarray]:
    """1-D float64 arrays (values representable in ``dtype``) with zeros, ties, the decision
    thresholds and levels of a fixed-scale ``qset``, and (``wide_range``) magnitudes 2^e.

    Raises:
        ValueError: ``min_size`` < 1 or ``max_size`` < ``min_size``.
    """
    if min_size < 1 or max_size < min_size:
        raise ValueError(f"need 1 <= min_size <= max_size, got {min_size}, {max_size}")
    emax = exponent_range(dtype) if wide_range else 0
    specials = _specials(qset)
    cast = np.dtype(dtype) if str(dtype) != "bfloat16" else np.dtype(np.float32)
    return st.integers(min_size, max_size).flatmap(
        lambda n: _values(n, specials, emax)).map(
        lambda v: np.asarray(v, dtype=cast).astype(np.float64))


@st.composite
def weight_matrices(
    draw: st.DrawFn,
    max_slices: int = 4,
    max_size: int = 8,
    *,
    axis: int = 0,
    qset: QuantSet | None = None,
    dtype: object = np.float64,
    wide_range: bool = True,
) -> np.ndarray:
    """2-D float64 arrays with ``1..max_slices`` slices along ``axis`` (0 or 1/-1) of
    ``1..max_size`` entries; rows as in :func:`weights`, and each slice times its own 2^e when
    ``wide_range`` (slices of very different magnitudes)."""
    if axis not in (0, 1, -1):
        raise ValueError(f"axis must be 0, 1 or -1 for a 2-D array, got {axis}")
    c = draw(st.integers(1, max_slices))
    n = draw(st.integers(1, max_size))
    emax = exponent_range(dtype) if wide_range else 0
    rows = draw(st.lists(_values(n, _specials(qset), emax // 2), min_size=c, max_size=c))
    a = np.asarray(rows, dtype=np.float64)
    if wide_range and qset is not None and qset.scale is None:
        a = a * (2.0 ** np.asarray(draw(st.lists(st.integers(-emax // 2, emax // 2),
                                                 min_size=c, max_size=c))))[:, None]
    cast = np.dtype(dtype) if str(dtype) != "bfloat16" else np.dtype(np.float32)
    a = a.astype(cast).astype(np.float64)
    return a if axis == 0 else a.T


def weights_for(qset: QuantSet, axis: int | None = None, dtype: object = np.float64,
                max_size: int = 12) -> st.SearchStrategy[np.ndarray]:
    """Inputs for checking a quantizer of ``qset``: :func:`weights` (axis None) or
    :func:`weight_matrices` (axis 0 or 1)."""
    if axis is None:
        return weights(1, max_size, qset=qset, dtype=dtype)
    return weight_matrices(4, max(1, max_size // 2), axis=axis, qset=qset, dtype=dtype)


def quant_sets(fixed: bool = True, free: bool = True, max_bits: int = 4
               ) -> st.SearchStrategy[QuantSet]:
    """Quantization sets: Binary, Ternary, Uniform(2..max_bits), Symmetric(1..max_bits), and
    Grid over 1-5 sorted levels (free scale: ``scaled:...``; fixed: ``grid:...``), with free
    and/or fixed scales."""
    if not (fixed or free):
        raise ValueError("at least one of fixed, free must be True")
    scales = []
    if free:
        scales.append(st.none())
    if fixed:
        scales.append(st.sampled_from((0.25, 0.5, 1.0, 3.0)))
    sc = st.one_of(*scales)
    levels = st.lists(st.integers(-8, 8), min_size=1, max_size=5, unique=True).map(sorted)
    grid = st.tuples(levels, sc).filter(lambda t: t[1] is not None or any(t[0])).map(
        lambda t: Grid(t[0], scale=t[1]))
    return st.one_of(
        sc.map(lambda s: Binary(scale=s)),
        sc.map(lambda s: Ternary(scale=s)),
        st.tuples(st.integers(2, max(2, max_bits)), sc).map(lambda t: Uniform(*t)),
        st.tuples(st.integers(1, max_bits), sc).map(lambda t: Symmetric(*t)),
        grid,
    )
