r"""Brute-force oracles: the distance to a quantization set by enumerating every code vector.

For :math:`Q = \{\alpha z: z \in L^n\}` (free scale) and any fixed z the best scale is
:math:`\alpha_z = \langle w, z\rangle_+/\|z\|^2`, so

.. math::

    \operatorname{dist}(w, Q)^2 = \min_{z \in L^n} \|w\|^2 - \frac{\langle w,z\rangle_+^2}{\|z\|^2}
    \quad (z \ne 0;\ \|w\|^2 \text{ for } z = 0),

and for a fixed scale s, :math:`\min_{z} \|w - s z\|^2` over all :math:`|L|^n` codes. Written
independently of :mod:`theory.projection` (no sweep, no nearest-level rule, no tie convention):
it is the oracle that the projection's exactness is checked against. Cost :math:`|L|^n`; meant
for n <= 7 and a few levels.
"""

from __future__ import annotations

import itertools

import numpy as np

from theory.sets import QuantSet

__all__ = ["brute_dist2", "brute_project"]

MAX_CODES = 2_000_000


def brute_project(w: np.ndarray, qset: QuantSet) -> tuple[float, np.ndarray]:
    """(dist(w, Q)^2, a minimiser q) of a 1-D ``w`` by enumerating all codes.

    Raises:
        ValueError: ``w`` not 1-D, or more than ``MAX_CODES`` code vectors.
    """
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 1:
        raise ValueError(f"w must be 1-D, got shape {w.shape}")
    lv = qset.levels
    if lv.size ** w.size > MAX_CODES:
        raise ValueError(f"{lv.size}^{w.size} codes is too many for brute force")
    z = np.array(list(itertools.product(lv, repeat=w.size)))  # (K^n, n)
    if qset.scale is not None:
        err = np.sum((w[None, :] - qset.scale * z) ** 2, axis=1)
        k = int(np.argmin(err))
        return float(err[k]), qset.scale * z[k]
    s1 = np.maximum(z @ w, 0.0)
    s2 = np.sum(z * z, axis=1)
    alpha = np.where(s2 > 0, s1 / np.where(s2 > 0, s2, 1.0), 0.0)
    err = np.sum((w[None, :] - alpha[:, None] * z) ** 2, axis=1)
    k = int(np.argmin(err))
    return float(err[k]), alpha[k] * z[k]


def brute_dist2(w: np.ndarray, qset: QuantSet) -> float:
    """dist(w, Q)^2 by enumeration (see :func:`brute_project`)."""
    return brute_project(w, qset)[0]
