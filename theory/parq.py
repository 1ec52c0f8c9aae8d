r"""PARQ's proximal map: the piecewise-affine regularizer and its annealed inverse slope.

Source: Jin, Ma, Liu, Gromov, Defazio, Xiao, "PARQ: Piecewise-Affine Regularized Quantization",
ICML 2025. PARQ regularizes with a convex piecewise-affine function (PAR) whose kinks sit at the
quantization targets and minimizes with a proximal method; its practical form anneals the
*inverse slope* s of the prox map from 1 to 0, where the map becomes hard quantization (the
straight-through estimator as the asymptotic form of PARQ). The map below is the one of the
released code (facebookresearch/parq ``ProxPARQ.apply_``) and of the paper's inverse-slope form.

**The map.** Targets :math:`t_1 < \dots < t_m` (here :math:`\alpha\cdot L`, the levels at the
exact projection's scale), :math:`s \in (0, 1]`. For w in :math:`[t_k, t_{k+1}]`, with
:math:`c_k = (t_k + t_{k+1})/2`:

.. math:: M_s(w) = \min\big(\max\big(c_k + (w - c_k)/s,\ t_k\big),\ t_{k+1}\big),

and :math:`M_s(w) = t_1` below :math:`t_1`, :math:`t_m` above :math:`t_m`. Each segment passes
through the midpoint with slope 1/s; s = 1 clamps w to :math:`[t_1, t_m]`; s -> 0 rounds to the
nearest target (at s = 0 exactly the map is the projection, tie rule of :mod:`theory.projection`).

**The regularizer** (derived here; checked by brute force in ``tests/theory/test_parq.py``). Let
:math:`\psi` be convex, piecewise affine on :math:`[t_1, t_m]` with slope :math:`c_k` on
:math:`(t_k, t_{k+1})` (kinks at the targets; the midpoints are increasing, so ψ is convex) and
:math:`+\infty` outside. Then

.. math:: M_s(w) = \arg\min_x\ (1-s)\,\psi(x) + \tfrac{s}{2}x^2 - w\,x
          = \operatorname{prox}_{\gamma\psi}(w/s), \qquad \gamma = (1-s)/s.

Proof: on :math:`(t_k, t_{k+1})` the objective is the quadratic with stationary point
:math:`(w - (1-s)c_k)/s = c_k + (w - c_k)/s`; the objective is strictly convex, so its minimiser
is that point clamped to the interval whose clamp is consistent, i.e. the formula above (at a kink
:math:`t_k` the subdifferential :math:`[(1-s)c_{k-1} + s t_k, (1-s)c_k + s t_k]` contains w exactly
on the flat parts). Rescaling :math:`x^2 s/2 - wx` as :math:`\tfrac{s}{2}(x - w/s)^2 + \text{const}`
gives the prox form. In PAR's notation :math:`\Psi(w) = \max_k\{a_k(|w| - q_k) + b_k\}` (Jin et al.
2025) this is the choice of slopes :math:`a_k` = midpoints of neighbouring targets (plus the box
:math:`[t_1, t_m]`), the one whose s -> 0 limit is nearest rounding.
"""

from __future__ import annotations

import numpy as np

from theory._validate import as_float_array, check_finite_scalar
from theory.projection import project
from theory.sets import QuantSet

__all__ = ["par_value", "parq_map", "parq", "mirror_sigmoid"]


def _targets(targets: object) -> np.ndarray:
    t = as_float_array(targets, "targets").astype(np.float64).reshape(-1)
    if t.size > 1 and not np.all(np.diff(t) > 0):
        raise ValueError("targets must be strictly increasing")
    return t


def par_value(x: object, targets: object) -> np.ndarray:
    r""":math:`\psi(x)` (module docstring), normalised by :math:`\psi(t_1) = 0`; +inf outside
    :math:`[t_1, t_m]`."""
    t = _targets(targets)
    x = as_float_array(x, "x", check_finite=False).astype(np.float64)
    c = (t[:-1] + t[1:]) / 2.0
    knots = np.concatenate([[0.0], np.cumsum(c * np.diff(t))])  # psi(t_k)
    k = np.clip(np.searchsorted(t, x, side="right") - 1, 0, max(t.size - 2, 0))
    if t.size == 1:
        val = np.zeros_like(x)
    else:
        val = knots[k] + c[k] * (x - t[k])
    return np.where((x < t[0]) | (x > t[-1]), np.inf, val)


def parq_map(w: object, targets: object, inv_slope: float) -> np.ndarray:
    """:math:`M_s(w)` for sorted ``targets`` and inverse slope s in (0, 1] (float64)."""
    t = _targets(targets)
    s = check_finite_scalar(inv_slope, "inv_slope")
    if not 0.0 < s <= 1.0:
        raise ValueError(f"inv_slope must be in (0, 1] (0 is the projection), got {s}")
    w = as_float_array(w, "w", allow_empty=True).astype(np.float64)
    hi_i = np.clip(np.searchsorted(t, w, side="left"), 0, t.size - 1)
    lo_i = np.clip(np.searchsorted(t, w, side="left") - 1, 0, t.size - 1)
    lo, hi = t[lo_i], t[hi_i]
    c = (lo + hi) / 2.0
    return np.minimum(np.maximum(c + (w - c) / s, lo), hi)


def parq(w: object, qset: QuantSet, inv_slope: float, axis: int | None = None) -> np.ndarray:
    r"""PARQ's forward point: :math:`M_s` with targets :math:`\alpha L` from the exact projection
    of w (per slice with ``axis``); ``inv_slope = 0`` returns the projection itself."""
    p = project(w, qset, axis)
    s = check_finite_scalar(inv_slope, "inv_slope")
    if s == 0.0:
        return p.q.astype(np.float64)
    w64 = np.asarray(w, dtype=np.float64)
    if axis is None:
        return parq_map(w64, np.unique(float(p.scale) * qset.levels), s)
    moved = np.moveaxis(w64, axis, 0)
    out = np.stack([parq_map(moved[i], np.unique(float(p.scale[i]) * qset.levels), s)
                    for i in range(moved.shape[0])])
    return np.moveaxis(out, 0, axis)


def mirror_sigmoid(t: float, t1: float, t2: float, steepness: float, center: float) -> float:
    r"""PARQ's annealing of the inverse slope over :math:`[t_1, t_2)`: 1 at :math:`t_1`, falling
    to 0 at :math:`t_2` along a sigmoid of steepness k centred at fraction c of the window,

    .. math:: s(t) = \frac{\sigma(-k(f - c)) - \sigma(-k/2)}{\sigma(k/2) - \sigma(-k/2)},
              \quad f = \frac{t - t_1}{t_2 - t_1},\ \sigma(z) = 1/(1 + e^{-z}).

    Released code: facebookresearch/parq ``normalized_mirror_sigmoid`` (its normalisation uses
    ±k/2, i.e. it is exactly 1 at f = 0 and 0 at f = 1 only for c = 1/2, the default; otherwise
    s is clipped to [0, 1] here). Outside the window: 1 before, 0 after.
    """
    if t < t1:
        return 1.0
    if t >= t2:
        return 0.0
    f = (t - t1) / (t2 - t1)
    st = 1.0 / (1.0 + np.exp(steepness * (f - center)))
    s1 = 1.0 / (1.0 + np.exp(-0.5 * steepness))
    s2 = 1.0 / (1.0 + np.exp(0.5 * steepness))
    return float(min(max((st - s2) / (s1 - s2), 0.0), 1.0))
