r"""ProxQuant's proximal map: the W-shaped (L1 distance-to-set) regularizer.

Source: Bai, Wang, Liberty, "ProxQuant: Quantized Neural Networks via Proximal Operators",
ICLR 2019. ProxQuant runs the proximal gradient method
:math:`\theta_{t+1} = \operatorname{prox}_{\eta_t\lambda_t R}(\theta_t - \eta_t\nabla L(\theta_t))`
(Algorithm 1) with the W-shaped regularizer :math:`R(\theta) = \inf_{q \in Q^n}\|\theta - q\|_1 =
\sum_i \min_k |\theta_i - t_k|` (for binary :math:`Q = \{\pm 1\}` the graph of each term is a
"W") and a linearly growing :math:`\lambda_t`; the released code (allenbai01/ProxQuant ``reg.py``
``BinOp.prox_operator``, ``reg_type='binary'``) soft-thresholds every weight toward the nearest
of ±1 by ``lr * reg``.

**The map** (targets :math:`t_1 < \dots < t_m`, here :math:`\alpha\cdot L` at the exact
projection's scale; threshold :math:`\tau = \eta\lambda > 0`):

.. math:: \operatorname{prox}_{\tau R}(w) = q + \operatorname{sign}(w - q)\max(|w - q| - \tau, 0),
          \qquad q = \text{nearest target},

i.e. soft thresholding toward the nearest target (computed in this form, so that a weight within
τ of its target lands on it exactly: ProxQuant's weights stick to the set).

*Derivation* (derived here, checked by brute force in ``tests/theory/test_proxquant.py``): on the
Voronoi cell of a target t the objective
:math:`|x - t| + (x - w)^2/(2\tau)` is convex with best value :math:`g(|w - t|)`,
:math:`g(r) = r^2/(2\tau)` for :math:`r \le \tau` and :math:`r - \tau/2` beyond; g increases, so
the nearest target's cell wins, and there the soft-threshold point stays in the cell (it moves w
toward t). A w exactly between two targets has two minimisers; the nearest target is chosen by
the tie rule of :mod:`theory.projection` (the one farther from zero).
"""

from __future__ import annotations

import numpy as np

from theory._validate import as_float_array, check_positive_scalar
from theory.projection import project
from theory.sets import QuantSet

__all__ = ["w_value", "proxquant_map", "proxquant"]


def w_value(x: object, targets: object) -> np.ndarray:
    r""":math:`\min_k |x - t_k|` elementwise (the W-shaped regularizer's terms)."""
    t = as_float_array(targets, "targets").astype(np.float64).reshape(-1)
    x = as_float_array(x, "x", allow_empty=True).astype(np.float64)
    return np.min(np.abs(x[..., None] - t), axis=-1)


def proxquant_map(w: object, q: object, tau: float) -> np.ndarray:
    r"""Soft thresholding of w toward its nearest targets ``q`` (same shape) by
    :math:`\tau > 0`: :math:`q + \operatorname{sign}(w - q)\max(|w - q| - \tau, 0)`."""
    tau = check_positive_scalar(tau, "tau")
    w = as_float_array(w, "w", allow_empty=True).astype(np.float64)
    q = as_float_array(q, "q", allow_empty=True).astype(np.float64)
    if q.shape != w.shape:
        raise ValueError(f"q must have the shape of w {w.shape}, got {q.shape}")
    d = w - q
    return q + np.sign(d) * np.maximum(np.abs(d) - tau, 0.0)


def proxquant(w: object, qset: QuantSet, tau: float, axis: int | None = None) -> np.ndarray:
    r"""ProxQuant's forward point: :math:`\operatorname{prox}_{\tau R}(w)` with the targets
    :math:`\alpha L` of the exact projection of w (per slice with ``axis``); the nearest targets
    are the projection itself (the optimal codes are the nearest levels at the optimal scale)."""
    p = project(w, qset, axis)
    return proxquant_map(np.asarray(w, dtype=np.float64), p.q.astype(np.float64), tau)
