r"""The exact Euclidean projection onto a quantization set (the plain float64 reference).

.. math::

    P_Q(w) \in \arg\min_{q \in Q} \|w - q\|_2^2,
    \qquad Q = \{\alpha z : z \in L^n\},

jointly over the scale :math:`\alpha \ge 0` (when free) and the codes :math:`z`.

**Fixed scale.** The problem separates: :math:`z_i` is the unit level nearest to
:math:`w_i/\alpha` (:mod:`theory.coding`).

**Free scale** (:mod:`theory.sweep`): the breakpoint sweep over :math:`\alpha` from
:math:`+\infty` to 0 visits the optimal codes, so
:math:`\operatorname{dist}(w,Q)^2 = \|w\|^2 - \max_{\text{sweep states}} (s_1)_+^2/s_2` with
:math:`s_1 = \langle w,z\rangle`, :math:`s_2 = \|z\|^2`. ``Binary`` (:math:`\alpha = \|w\|_1/n`)
and ``Ternary`` (the top-t scan) are special cases of the sweep (Yin et al. 2018, BinaryRelax).
Then the codes are recomputed as the nearest levels of :math:`w/\alpha^*` and the scale refitted,
:math:`\alpha = \langle w,z\rangle_+/\|z\|^2`; both steps can only lower the objective, so the
returned point is a global minimiser and satisfies :math:`\langle w - q, q\rangle = 0` to rounding.

**Tie convention** (one rule everywhere, applied to :math:`y = \mathrm{fl}(w/\alpha)`): a value
exactly on a midpoint goes to the level farther from zero; a value exactly 0 on the midpoint 0
(sets without a zero level) goes to the positive level, so ``Binary`` maps w = 0 to +α. When several
code vectors attain the minimum, the sweep keeps the first one met from α = +∞ downward (the
largest scale: for ``Ternary`` the fewest non-zeros). ``P(-w) = -P(w)`` therefore holds for
symmetric sets except on exact ties.

**Float range** (derived here). Every row is multiplied by :math:`2^{-e}` with
:math:`2^{e-1} \le \max_i |w_i| < 2^e`, and a free-scale set's unit levels by :math:`2^{-f}` the
same way; the projection is computed in these units and scaled back. Scaling by a power of two is
exact, and it commutes with the tie rule (:math:`\mathrm{fl}(w/\alpha)` only moves by the same
power of two as the midpoints), so any finite input is handled, from the smallest subnormal to
the largest float: no square or sum over- or underflows. What cannot be represented is reported,
not hidden: a free scale above the largest float64 (possible only when the smallest non-zero unit
level is below 1, e.g. ``Symmetric`` on entries near 1.7e308) raises ``ValueError``; ``dist2``
is the float64 rounding of the true distance (``inf`` beyond 1.8e308); ``q`` is computed as
:math:`2^{e}\,\mathrm{fl}(\alpha' l')` in the scaled units, so it stays correctly rounded even
when the scale itself is subnormal. Entries below :math:`2^{-1074}\max_i|w_i|` act as 0 (below
float64 resolution relative to the row).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from theory._validate import as_float_array, check_axis
from theory.coding import code_dtype, nearest_codes
from theory.sets import QuantSet
from theory.sweep import best_scale, pow2_exponent

__all__ = ["Projection", "project", "nearest_codes", "best_scale", "code_dtype"]


@dataclass(frozen=True)
class Projection:
    """Result of :func:`project`.

    Attributes:
        q: the projected array, same shape and dtype as ``w``.
        scale: the scale α (a float, or a float64 array with one entry per slice along ``axis``).
            For a fixed-scale set it is that scale.
        codes: integer array, same shape as ``w``: indices into ``qset.levels`` (sorted unit
            levels), in the smallest signed dtype that holds them
            (:func:`theory.coding.code_dtype`: int8 up to 127 levels), so that
            ``q == scale * qset.levels[codes]`` (broadcast per slice).
        dist2: ``||w - q||^2`` in float64 for the float64 projected point (a float, or one per
            slice); for float16/32 input ``q`` is that point rounded to the input dtype.
        zero_point: ``None``, or for an :class:`theory.sets.Affine` set the integer zero point(s)
            z (int64, shaped like ``scale``): then codes are l in 0..2^b-1 and
            ``q == scale * (codes - zero_point)``.

    With ``group_size`` g, ``scale``, ``dist2`` and ``zero_point`` have one entry per block:
    shape (nb,) for ``axis=None``, (C, nb) with an axis (:mod:`theory.groups`).
    """

    q: np.ndarray
    scale: float | np.ndarray
    codes: np.ndarray
    dist2: float | np.ndarray
    zero_point: int | np.ndarray | None = None


def _free_rows(rows: np.ndarray, levels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Codes, scale and q (scaled units undone) of each row for a free scale."""
    e = pow2_exponent(np.max(np.abs(rows), axis=1))[:, None]
    f = int(pow2_exponent(np.max(np.abs(levels))))
    x, lv = np.ldexp(rows, -e), np.ldexp(levels, -f)  # both in (-1, 1)
    a = best_scale(x, lv)[:, None]
    # codes at a, then the least-squares refit of the scale (both can only lower the objective)
    pos = a > 0
    codes = np.where(pos, nearest_codes(x / np.where(pos, a, 1.0), lv),
                     nearest_codes(np.zeros(1), lv)[0])
    z = lv[codes]
    s1 = np.sum(x * z, axis=1, keepdims=True)
    s2 = np.sum(z * z, axis=1, keepdims=True)
    ok = (s1 > 0) & (s2 > 0)
    a = np.where(ok, s1 / np.where(ok, s2, 1.0), 0.0)
    codes = np.where(ok, codes, nearest_codes(np.zeros(1), lv)[0])  # the zero point
    q = np.ldexp(a * lv[codes], e)
    with np.errstate(over="ignore"):
        scale = np.ldexp(a[:, 0], e[:, 0] - f)
    if not np.all(np.isfinite(scale)):
        raise ValueError("the optimal scale exceeds the float64 range (largest float "
                         f"{np.finfo(np.float64).max:g}); scale w down, e.g. by a power of two")
    return codes, scale, q


def _dist2(rows: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Per row ||w - q||^2, computed as 2^(2e) ||(w - q) 2^-e||^2 (no intermediate overflow)."""
    e = pow2_exponent(np.maximum(np.max(np.abs(rows), axis=1), np.max(np.abs(q), axis=1)))
    d = np.ldexp(rows, -e[:, None]) - np.ldexp(q, -e[:, None])
    with np.errstate(over="ignore"):
        return np.ldexp(np.sum(d * d, axis=1), 2 * e)


def _project_rows(
    rows: np.ndarray, qset: QuantSet, dtype: np.dtype
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(codes, q, scale, dist2) for each row of ``rows`` (C, n), float64."""
    levels = qset.levels
    if qset.scale is None:
        codes, scale, q = _free_rows(rows, levels)
    else:
        scale = np.full(rows.shape[0], qset.scale)
        codes = nearest_codes(rows / qset.scale, levels)
        q = qset.scale * levels[codes]  # finite: QuantSet checks scale * levels
    with np.errstate(over="ignore"):
        q_out = q.astype(dtype)
    if not np.all(np.isfinite(q_out)):
        raise ValueError(f"the projected point exceeds the range of {np.dtype(dtype).name} "
                         f"(largest {np.finfo(dtype).max:g}); scale w down")
    return codes.astype(code_dtype(len(levels))), q_out, scale, _dist2(rows, q)


def _project_blocks(rows: np.ndarray, qset: QuantSet, dtype: np.dtype, g: int | None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """(codes, q, scale, dist2, zero point or None) of (C, n) rows; with g: per block, the
    per-block values shaped (C, nb) (tail rule: :mod:`theory.groups`)."""
    from theory.affine import affine_rows
    from theory.sets import Affine

    def solve(r: np.ndarray) -> tuple:
        if isinstance(qset, Affine):
            return affine_rows(r, qset, dtype)
        return (*_project_rows(r, qset, dtype), None)

    if g is None or g >= rows.shape[1]:
        codes, q, scale, d2, z = solve(rows)
        if g is None:
            return codes, q, scale, d2, z
        return codes, q, scale[:, None], d2[:, None], None if z is None else z[:, None]
    from theory.groups import block_values, from_blocks, to_blocks

    C = rows.shape[0]
    full, tail = to_blocks(rows, g)
    parts = [solve(full) if full.shape[0] else None, solve(tail) if tail is not None else None]
    if parts[0] is None:  # every row shorter than g: handled above
        raise AssertionError("unreachable")
    f, t = parts
    codes = from_blocks(f[0], None if t is None else t[0], C)
    q = from_blocks(f[1], None if t is None else t[1], C)
    scale = block_values(f[2], None if t is None else t[2], C)
    d2 = block_values(f[3], None if t is None else t[3], C)
    z = None if f[4] is None else block_values(f[4], None if t is None else t[4], C)
    return codes, q, scale, d2, z


def project(w: object, qset: QuantSet, axis: int | None = None,
            group_size: int | None = None) -> Projection:
    r"""Exact Euclidean projection of ``w`` onto ``qset`` (jointly over scale and codes).

    .. math:: P_Q(w) \in \arg\min_{\alpha \ge 0,\; z \in L^n} \|w - \alpha z\|^2

    Args:
        w: real floating array (float16/32/64), non-empty and finite (any magnitude, subnormal
            entries included: see "Float range" in the module docstring). Computed in float64.
        qset: a :class:`theory.sets.QuantSet`.
        axis: ``None`` for one scale for the whole tensor, or the axis whose slices get one scale
            each (``axis=0``: one scale per output channel of a (C_out, ...) weight).
        group_size: ``None``, or g >= 1: one scale per block of g consecutive entries of each
            row (the tensor for ``axis=None``, each slice flattened otherwise); a shorter tail
            block is a block of its own (:mod:`theory.groups`).

    Returns:
        :class:`Projection` with ``q`` (same shape and dtype as w), ``scale``, ``codes``
        (indices into ``qset.levels``, dtype :func:`code_dtype`) and ``dist2``.

    Raises:
        TypeError: ``qset`` is not a QuantSet; ``w`` has a non-floating dtype.
        ValueError: ``w`` is empty or non-finite; ``axis`` out of range; the optimal scale is
            above the largest float64, or the projected point above the largest value of
            ``w``'s dtype (a top level can lie up to half a level step beyond max|w|).

    Source: the breakpoint sweep of :mod:`theory.sweep` (binary and ternary closed forms of
    Yin et al. 2018 as special cases); tie convention and float range: the module docstring.

    Example:
        >>> import numpy as np
        >>> from theory import project, Ternary
        >>> r = project(np.array([0.1, -2.0, 1.5, 0.2]), Ternary())
        >>> r.q.tolist(), round(r.scale, 6)
        ([0.0, -1.75, 1.75, 0.0], 1.75)
    """
    from theory.groups import check_group_size

    if not isinstance(qset, QuantSet):
        raise TypeError(f"qset must be a theory.sets.QuantSet, got {type(qset).__name__}")
    arr = as_float_array(w, "w")
    ax = check_axis(axis, arr.ndim)
    g = check_group_size(group_size)
    shape, dtype = arr.shape, arr.dtype
    if ax is None:
        rows = np.asarray(arr, dtype=np.float64).reshape(1, -1)
    else:
        rows = np.moveaxis(arr, ax, 0).astype(np.float64).reshape(arr.shape[ax], -1)
    codes, q_rows, alpha, dist2, zp = _project_blocks(rows, qset, dtype, g)
    if g is not None and ax is None:
        alpha, dist2 = alpha[0], dist2[0]
        zp = None if zp is None else zp[0]
    if ax is None and g is None:
        return Projection(q_rows.reshape(shape), float(alpha[0]), codes.reshape(shape),
                          float(dist2[0]), None if zp is None else int(zp[0]))
    if ax is None:
        return Projection(q_rows.reshape(shape), alpha, codes.reshape(shape), dist2, zp)
    moved = (shape[ax],) + tuple(s for i, s in enumerate(shape) if i != ax)
    q = np.moveaxis(q_rows.reshape(moved), 0, ax)
    codes_out = np.moveaxis(codes.reshape(moved), 0, ax)
    return Projection(q, alpha, codes_out, dist2, zp)
