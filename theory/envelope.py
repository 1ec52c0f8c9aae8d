r"""Squared distance, Moreau envelope, BinaryRelax prox and envelope gradient of a quantization set.

For the indicator :math:`\chi_Q` of a closed set Q and :math:`\lambda > 0`,

.. math::

    e_{1/\lambda}\chi_Q(w) = \min_x \chi_Q(x) + \tfrac{\lambda}{2}\|w - x\|^2
        = \tfrac{\lambda}{2}\operatorname{dist}(w, Q)^2 ,

the relaxation BinaryRelax trains with (Yin et al. 2018; the identity is standard, Moreau
1965; ``docs/math/binaryrelax.md#moreau-envelope``). Its prox

.. math::

    \operatorname{prox}(w) = \arg\min_u \tfrac12\|u - w\|^2 + \tfrac{\lambda}{2}
        \operatorname{dist}(u, Q)^2 = \frac{w + \lambda P_Q(w)}{1 + \lambda}

is BinaryRelax's relaxed ("pseudo-quantized") point. *Derivation* (derived here;
``docs/math/binaryrelax.md#prox-proof``): minimise jointly over (u, q ∈ Q); for fixed q the
minimiser is u = (w + λq)/(1 + λ) with value λ‖w − q‖²/(2(1 + λ)), which is smallest at q = P_Q(w).
Where P_Q is single-valued (off the tie set, a null set),
:math:`\nabla \tfrac{\lambda}{2}\operatorname{dist}^2(w) = \lambda(w - P_Q(w))`.

With ``axis`` the set is the product of one set per slice; all quantities are then taken over the
product set (the envelope sums over slices).
"""

from __future__ import annotations

import numpy as np

from theory._validate import check_positive_scalar
from theory.projection import project
from theory.sets import QuantSet

__all__ = ["dist2", "moreau_envelope", "prox", "envelope_grad"]


def dist2(w: object, qset: QuantSet, axis: int | None = None) -> float:
    """Squared distance :math:`\\operatorname{dist}(w, Q)^2` (summed over slices with ``axis``)."""
    return float(np.sum(project(w, qset, axis).dist2))


def moreau_envelope(w: object, qset: QuantSet, lam: float, axis: int | None = None) -> float:
    r"""Moreau envelope of the indicator of Q: :math:`\tfrac{\lambda}{2}\operatorname{dist}(w,Q)^2`.

    Args:
        w: real floating array. qset: the set. lam: λ > 0. axis: per-slice scales (see project).
    """
    lam = check_positive_scalar(lam, "lam")
    return 0.5 * lam * dist2(w, qset, axis)


def prox(w: object, qset: QuantSet, lam: float, axis: int | None = None) -> np.ndarray:
    r"""BinaryRelax's relaxed point :math:`(w + \lambda P_Q(w))/(1 + \lambda)`.

    This is :math:`\arg\min_u \tfrac12\|u - w\|^2 + \tfrac{\lambda}{2}\operatorname{dist}(u,Q)^2`
    (derivation in the module docstring). With a gradient step γ use ``lam = γ·λ``. Returned in
    float64, the same shape as ``w``.
    """
    lam = check_positive_scalar(lam, "lam")
    p = project(w, qset, axis)
    w64 = np.asarray(w, dtype=np.float64)
    return (w64 + lam * p.q.astype(np.float64)) / (1.0 + lam)


def envelope_grad(w: object, qset: QuantSet, lam: float, axis: int | None = None) -> np.ndarray:
    r"""Gradient :math:`\lambda(w - P_Q(w))` of the envelope :math:`\tfrac{\lambda}{2}d(w,Q)^2`.

    Valid where P_Q is single-valued (off ties); on a tie it is the gradient along the branch the
    projection's tie convention picks (a limiting subgradient).
    """
    lam = check_positive_scalar(lam, "lam")
    p = project(w, qset, axis)
    w64 = np.asarray(w, dtype=np.float64)
    return lam * (w64 - p.q.astype(np.float64))
