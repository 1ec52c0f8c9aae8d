r"""Nearest-level codes: the separable step of the projection onto a quantization set.

For a fixed scale :math:`\alpha > 0` the projection :math:`\arg\min_{z \in L^n}\|w - \alpha z\|^2`
separates per entry: :math:`z_i` is the unit level nearest to :math:`y_i = \mathrm{fl}(w_i/\alpha)`.
With sorted levels :math:`l_0 < \dots < l_{k-1}` and midpoints :math:`m_j = (l_j + l_{j+1})/2`
(:func:`theory.sets.level_midpoints`) the code is :math:`\#\{m_j \le y\}` for :math:`y \ge 0` and
:math:`\#\{m_j < y\}` for :math:`y < 0`, which is the tie convention of :mod:`theory.projection`:
a value exactly on a midpoint goes to the level farther from zero, and 0 on the midpoint 0 goes to
the positive level. ``y = ±inf`` (a huge :math:`w_i` over a tiny :math:`\alpha`) gets the
outermost level of its sign, which is its nearest level.

Source: derived here (the separability is immediate; checked against brute force over all code
vectors in ``tests/theory/test_projection.py``).
"""

from __future__ import annotations

import numpy as np

from theory.sets import level_midpoints

__all__ = ["code_dtype", "nearest_codes"]


def code_dtype(n_levels: int) -> np.dtype:
    """Smallest signed integer dtype holding the level indices 0..n_levels-1.

    int8 for up to 127 levels (every set of <= 7 bits), int16 up to 32767, else int32.
    """
    for dt in (np.int8, np.int16, np.int32):
        if n_levels - 1 <= np.iinfo(dt).max:
            return np.dtype(dt)
    return np.dtype(np.int64)


def nearest_codes(x: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Index (int64) of the nearest unit level to each entry of ``x`` (ties away from zero).

    With midpoints :math:`m_j = (l_j + l_{j+1})/2` the index is :math:`\\#\\{m_j \\le x\\}` for
    x >= 0 and :math:`\\#\\{m_j < x\\}` for x < 0 (the tie convention of :mod:`theory.projection`).
    """
    mids = level_midpoints(levels)
    right = np.searchsorted(mids, x, side="right")  # #{m <= x}
    left = np.searchsorted(mids, x, side="left")  # #{m < x}
    return np.where(x >= 0, right, left).astype(np.int64)
