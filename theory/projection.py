r"""The exact Euclidean projection onto a quantization set.

.. math::

    P_Q(w) \in \arg\min_{q \in Q} \|w - q\|_2^2,
    \qquad Q = \{\alpha z : z \in L^n\},

jointly over the scale :math:`\alpha \ge 0` (when free) and the codes :math:`z`.

**Fixed scale.** The problem separates: :math:`z_i` is the unit level nearest to
:math:`w_i/\alpha`.

**Free scale** (:mod:`theory.sweep`): the breakpoint sweep over :math:`\alpha` from
:math:`+\infty` to 0 visits the optimal codes, so
:math:`\operatorname{dist}(w,Q)^2 = \|w\|^2 - \max_{\text{sweep states}} (s_1)_+^2/s_2` with
:math:`s_1 = \langle w,z\rangle`, :math:`s_2 = \|z\|^2`; that module derives it and its exact
pruning. ``Binary``: :math:`\alpha = \|w\|_1/n` (papers.md §A1); ``Ternary``: the top-t scan
(§A2). The codes for a given scale are computed by :mod:`theory.coding`.

Finally the codes are recomputed as the nearest levels of :math:`w/\alpha^*` and the scale refitted
:math:`\alpha = \langle w,z\rangle_+/\|z\|^2`; both steps can only lower the objective, so the
returned point is a global minimiser and satisfies :math:`\langle w - q, q\rangle = 0` to rounding.

**Tie convention** (one rule everywhere, applied to :math:`y = \mathrm{fl}(w/\alpha)`): a value
exactly on a midpoint goes to the level farther from zero; a value exactly 0 on the midpoint 0
(sets without a zero level) goes to the positive level, so ``Binary`` maps w = 0 to +α. When several
code vectors attain the minimum, the sweep keeps the first one met from α = +∞ downward (the
largest scale: for ``Ternary`` the fewest non-zeros). ``P(-w) = -P(w)`` therefore holds for
symmetric sets except on exact ties.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from theory._validate import all_finite, as_float_array, check_axis
from theory.coding import _apply, _apply_sign, _Coder, _x_threshold, code_dtype, nearest_codes
from theory.sets import QuantSet
from theory.sweep import _count_ge, _single_run_alpha, best_scale

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
    """

    q: np.ndarray
    scale: float | np.ndarray
    codes: np.ndarray
    dist2: float | np.ndarray


def _project_rows(
    rows: np.ndarray, qset: QuantSet, dtype: np.dtype
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(codes, q, scale, dist2) for each row of ``rows`` (C, n), float64."""
    C, n = rows.shape
    levels = qset.levels
    coder = _Coder(levels)
    sign = (coder.kind == "int" and len(levels) == 3) or (coder.kind == "half" and len(levels) == 2)
    ternary = sign and len(levels) == 3 and qset.scale is None
    if not ternary and not all_finite(rows):
        raise ValueError("w must be finite, found NaN or Inf")
    if qset.scale is not None:
        alpha = np.full(C, qset.scale)
        if sign:
            return _apply_sign(rows, alpha, coder, dtype)
        return _apply(rows, alpha, coder, False, dtype)
    if sign and len(levels) == 2:  # binary: alpha * d/2 = mean|w|
        alpha = np.mean(np.abs(rows), axis=1) * (2.0 / coder.d)
        return _apply_sign(rows, alpha, coder, dtype)
    if ternary:  # top-t scan; alpha is the mean of the t* largest |w|
        u = np.abs(rows)
        u.sort(axis=1)
        if not np.all(np.isfinite(u[:, -1])):  # NaN and Inf sort last
            raise ValueError("w must be finite, found NaN or Inf")
        d = coder.d
        # alpha = S_t*/(d t*): the mean of the t* largest |w| (block sums + cumsum, ~1e-15 rel.)
        alpha, t = _single_run_alpha(u, 0.0, d, d * d)
        T = _x_threshold(alpha, 0.5 * d)
        # the comparison codes keep exactly the t* largest |w| (else: rounding at a tie)
        if T is not None and np.array_equal(_count_ge(u, T[:, None])[:, 0], np.where(t > 0, t, 0)):
            out = _apply_sign(rows, alpha, coder, dtype, q_buffer=u)
            if out is not None:
                return out
    else:
        alpha = best_scale(rows, levels)
    return _apply(rows, alpha, coder, True, dtype)


def project(w: object, qset: QuantSet, axis: int | None = None) -> Projection:
    r"""Exact Euclidean projection of ``w`` onto ``qset`` (jointly over scale and codes).

    .. math:: P_Q(w) \in \arg\min_{\alpha \ge 0,\; z \in L^n} \|w - \alpha z\|^2

    Args:
        w: real floating array (float16/32/64), non-empty and finite. Computed in float64.
        qset: a :class:`theory.sets.QuantSet`.
        axis: ``None`` for one scale for the whole tensor, or the axis whose slices get one scale
            each (``axis=0``: one scale per output channel of a (C_out, ...) weight).

    Returns:
        :class:`Projection` with ``q`` (same shape and dtype as w), ``scale``, ``codes``
        (indices into ``qset.levels``, dtype :func:`code_dtype`) and ``dist2``.

    Raises:
        TypeError: ``qset`` is not a QuantSet; ``w`` has a non-floating dtype.
        ValueError: ``w`` is empty or non-finite; ``axis`` out of range.

    Source: binary mean|w| and ternary top-t scan, papers.md §A1-A2; the general sweep and its
    pruning are derived in this module's docstring. Tie convention: see the module docstring.

    Example:
        >>> import numpy as np
        >>> from theory import project, Ternary
        >>> r = project(np.array([0.1, -2.0, 1.5, 0.2]), Ternary())
        >>> r.q.tolist(), round(r.scale, 6)
        ([0.0, -1.75, 1.75, 0.0], 1.75)
    """
    if not isinstance(qset, QuantSet):
        raise TypeError(f"qset must be a theory.sets.QuantSet, got {type(qset).__name__}")
    arr = as_float_array(w, "w", check_finite=False)  # checked in _project_rows
    ax = check_axis(axis, arr.ndim)
    shape, dtype = arr.shape, arr.dtype
    if ax is None:
        rows = np.asarray(arr, dtype=np.float64).reshape(1, -1)
    else:
        rows = np.moveaxis(arr, ax, 0).astype(np.float64).reshape(arr.shape[ax], -1)
    codes, q_rows, alpha, dist2 = _project_rows(rows, qset, dtype)
    if ax is None:
        return Projection(q_rows.reshape(shape), float(alpha[0]), codes.reshape(shape),
                          float(dist2[0]))
    moved = (shape[ax],) + tuple(s for i, s in enumerate(shape) if i != ax)
    q = np.moveaxis(q_rows.reshape(moved), 0, ax)
    codes_out = np.moveaxis(codes.reshape(moved), 0, ax)
    return Projection(q, alpha, codes_out, dist2)
