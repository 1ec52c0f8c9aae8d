r"""Group-wise granularity: one scale per block of ``group_size`` consecutive weights of a row.

With ``axis`` the tensor is laid out as rows, one per slice (``axis=0``: one row per output
channel, the slice flattened in C order, so for a ``(out, in)`` linear weight a row is one
output's ``in`` weights); with ``axis=None`` the whole tensor is one row. ``group_size`` g then
splits every row of n entries into :math:`\lceil n/g \rceil` blocks of g consecutive entries,
each with its own scale (and zero point, for :class:`theory.sets.Affine`):

.. math::

    Q_g = \prod_{\text{rows } r}\ \prod_{b=0}^{\lceil n/g\rceil-1} Q^{(|B_b|)}, \qquad
    B_b = \{bg, \dots, \min((b+1)g, n) - 1\},

the granularity of int4 weight-only LLM quantization (g = 32, 64, 128 along the input dimension).
The projection onto a Cartesian product is the product of the projections, so it is exact per
block. **Tail rule**: when g does not divide n the last block of every row, of
:math:`n - g\lfloor n/g \rfloor` entries, is a block of its own with its own scale (it is not
padded: padding with zeros would change the optimal scale of the block); ``g >= n`` is one block
per row, i.e. plain per-row (per-tensor for ``axis=None``) granularity.

Scales and zero points have shape ``(nb,)`` (``axis=None``) or ``(C, nb)``; :func:`expand` gives
the per-entry scale, the same shape as the tensor.
"""

from __future__ import annotations

import numpy as np

from theory._validate import check_int

__all__ = ["check_group_size", "n_blocks", "to_blocks", "from_blocks", "expand"]

#: largest accepted group size (any row length up to this is one group)
MAX_GROUP = 2**40


def check_group_size(g: object, name: str = "group_size") -> int | None:
    """None (no blocks) or an int >= 1 (TypeError/ValueError naming ``name`` otherwise)."""
    if g is None:
        return None
    return check_int(g, name, 1, MAX_GROUP)


def n_blocks(n: int, g: int) -> int:
    """Blocks per row of n entries: ceil(n / g) (the tail block counts as one)."""
    return -(-n // g)


def to_blocks(rows: np.ndarray, g: int) -> tuple[np.ndarray, np.ndarray | None]:
    """(full, tail) of (C, n) ``rows``: ``full`` is (C * (n // g), g), the full blocks row by
    row; ``tail`` is (C, n % g) or None when g divides n."""
    C, n = rows.shape
    nf = n // g
    full = rows[:, : nf * g].reshape(C * nf, g)
    tail = rows[:, nf * g:] if n % g else None
    return full, tail


def from_blocks(full: np.ndarray, tail: np.ndarray | None, C: int) -> np.ndarray:
    """Inverse of :func:`to_blocks` for per-entry arrays ((C, n) rows back)."""
    body = full.reshape(C, -1)
    return body if tail is None else np.concatenate([body, tail], axis=1)


def block_values(full: np.ndarray, tail: np.ndarray | None, C: int) -> np.ndarray:
    """Per-block values (one per full block, one per tail) as a (C, nb) array."""
    body = full.reshape(C, -1)
    return body if tail is None else np.concatenate([body, tail.reshape(C, 1)], axis=1)


def expand(values: np.ndarray, shape: tuple[int, ...], axis: int | None,
           g: int | None) -> np.ndarray:
    """Per-entry array (the tensor's ``shape``) of per-block ``values`` ((nb,) or (C, nb); with
    ``g=None``: a scalar or (C,) per slice)."""
    values = np.asarray(values)
    shape = tuple(shape)
    if axis is None:
        n = int(np.prod(shape))
        rows = values.reshape(1, -1)
        C = 1
    else:
        C = shape[axis]
        n = int(np.prod(shape)) // max(C, 1)
        rows = values.reshape(C, -1)
    gg = n if g is None else g
    per = np.repeat(rows, gg, axis=1)[:, :n] if rows.shape[1] > 0 else rows
    if axis is None:
        return per.reshape(shape)
    moved = (shape[axis],) + tuple(s for i, s in enumerate(shape) if i != axis)
    return np.moveaxis(per.reshape(moved), 0, axis)
