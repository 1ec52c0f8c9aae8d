r"""MSE-optimal step sizes of uniform quantizers for Gaussian data, by exact cell integrals.

Every quantizer here is piecewise constant with cells :math:`[\tau_k\Delta, \tau_{k+1}\Delta)`
mapped to :math:`l_k\Delta` (τ, l fixed). With :math:`\varphi, \Phi` the N(0,1) pdf and cdf,

.. math::

    \mathrm{MSE}(\Delta) = \sum_k \int_{\tau_k\Delta}^{\tau_{k+1}\Delta}(x - l_k\Delta)^2
    \varphi(x)\,dx,\qquad \int_a^b (x-c)^2\varphi = [\Phi - x\varphi]_a^b + 2c[\varphi]_a^b
    + c^2[\Phi]_a^b,

and by Leibniz's rule (derived here)

.. math::

    \mathrm{MSE}'(\Delta) = \sum_k\Big[-2l_k\int_{cell}(x-l_k\Delta)\varphi\,dx
    + \tau_{k+1}(\tau_{k+1}-l_k)^2\Delta^2\varphi(\tau_{k+1}\Delta)
    - \tau_k(\tau_k-l_k)^2\Delta^2\varphi(\tau_k\Delta)\Big].

The optimum is the root of MSE′ bracketed around the best point of a log grid and refined by
``scipy.optimize.brentq`` to ~1e-15 (tests: MSE′ = 0 there, the value beats its neighbours, and
Monte Carlo of the quantizers of :mod:`theory.proxies` agrees with the MSE).

Quantizers (M = 2^b − 1):

* :func:`uniq_weight_step` ``c_w[b]``: symmetric mid-rise, levels ±Δ/2..±MΔ/2, round to nearest,
  data N(0,1) (UniQ weights, ``docs/math/uniq.md#constants``);
* :func:`uniq_activation_step` ``c_a[b]``: levels {0, Δ, .., MΔ}, round to nearest, data
  ReLU(N(0,1)) (UniQ activations);
* :func:`bcgd_ceil_step`: BCGD's ceil-type σ(x, α) against ReLU(x), x ~ N(0,1)
  (``docs/math/activation-quantizers.md#gaussian-steps``).

Released tables (data, with source): :data:`UNIQ_C_W`, :data:`UNIQ_C_A`, :data:`BCGD_BIT_ALPHA`.
Finding [derived here, reproduced in the tests]: c_w and c_a are these optima (c_w to
~1e-15, c_a to the 8 printed digits); BCGD's ``bit_alpha`` is within 1% of the *round-to-nearest*
optimum c_a, not of its own ceil quantizer's optimum; whether that was intended is not
known (``docs/math/activation-quantizers.md#bit-alpha``).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq
from scipy.special import ndtr

from theory._validate import check_int, check_positive_scalar
from theory.released_tables import (  # released tables: stored once, as data with the source
    BCGD_BIT_ALPHA,
    TABLE_SOURCES,
    UNIQ_C_A,
    UNIQ_C_W,
)

__all__ = [
    "BCGD_BIT_ALPHA",
    "TABLE_SOURCES",
    "UNIQ_C_A",
    "UNIQ_C_W",
    "bcgd_ceil_cells",
    "bcgd_ceil_step",
    "cell_mse",
    "cell_mse_derivative",
    "optimal_step",
    "uniq_activation_cells",
    "uniq_activation_step",
    "uniq_weight_cells",
    "uniq_weight_step",
]

Cells = tuple[np.ndarray, np.ndarray]  # (tau: K+1 edges in units of Δ, l: K levels in units of Δ)


def _levels(bits: object) -> int:
    return 2 ** check_int(bits, "bits", 1, 16) - 1


def uniq_weight_cells(bits: int) -> Cells:
    """Cells of the symmetric mid-rise quantizer: levels (k − M/2)Δ, k = 0..M, edges halfway."""
    big_m = _levels(bits)
    inner = np.arange(big_m) + 0.5 - big_m / 2.0
    tau = np.concatenate([[-np.inf], inner, [np.inf]])
    return tau, np.arange(big_m + 1) - big_m / 2.0


def uniq_activation_cells(bits: int) -> Cells:
    """Cells of round-to-nearest {0..M}Δ on x > 0 (x <= 0 maps to 0 exactly: no error)."""
    big_m = _levels(bits)
    tau = np.concatenate([[0.0], np.arange(big_m) + 0.5, [np.inf]])
    return tau, np.arange(big_m + 1, dtype=np.float64)


def bcgd_ceil_cells(bits: int) -> Cells:
    """Cells of BCGD's ceil quantizer on x > 0: ((k−1)α, kα] -> kα, x > (M−1)α -> Mα."""
    big_m = _levels(bits)
    tau = np.concatenate([np.arange(big_m, dtype=np.float64), [np.inf]])
    return tau, np.arange(1, big_m + 1, dtype=np.float64)


def _fin(x: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(x), x, 0.0)


def _pdf(x: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(x), np.exp(-0.5 * np.square(_fin(x))) / np.sqrt(2.0 * np.pi), 0.0)


def _moments(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(∫φ, ∫xφ, ∫x²φ) over [a, b], tails by the survival function for accuracy."""
    pa, pb = _pdf(a), _pdf(b)
    i0 = np.where(a >= 0, ndtr(-a) - ndtr(-b), ndtr(b) - ndtr(a))
    xa, xb = _fin(a) * pa, _fin(b) * pb
    return i0, pa - pb, i0 + xa - xb


def cell_mse(step: float, cells: Cells) -> float:
    r"""MSE(Δ) of the cell quantizer for N(0,1) data (module docstring; exact up to rounding)."""
    step = check_positive_scalar(step, "step")
    tau, lev = cells
    a, b = tau[:-1] * step, tau[1:] * step
    i0, i1, i2 = _moments(a, b)
    c = lev * step
    return float(np.sum(i2 - 2.0 * c * i1 + c * c * i0))


def cell_mse_derivative(step: float, cells: Cells) -> float:
    r"""dMSE/dΔ by Leibniz's rule (module docstring; derived here; checked by finite
    differences)."""
    step = check_positive_scalar(step, "step")
    tau, lev = cells
    a, b = tau[:-1] * step, tau[1:] * step
    i0, i1, _ = _moments(a, b)
    c = lev * step
    inner = -2.0 * lev * (i1 - c * i0)
    edge_b = _fin(tau[1:]) * np.square(_fin(b) - c) * _pdf(b)
    edge_a = _fin(tau[:-1]) * np.square(_fin(a) - c) * _pdf(a)
    return float(np.sum(inner + edge_b - edge_a))


def optimal_step(cells: Cells) -> float:
    """argmin_Δ MSE(Δ): best point of a 2000-point log grid on [1e-4, 10], then brentq on MSE′."""
    grid = np.geomspace(1e-4, 10.0, 2000)
    vals = np.array([cell_mse(g, cells) for g in grid])
    k = int(np.argmin(vals))
    if k in (0, grid.size - 1):
        raise RuntimeError("MSE minimum not bracketed in [1e-4, 10]")
    return float(brentq(cell_mse_derivative, grid[k - 1], grid[k + 1], args=(cells,),
                        xtol=1e-16, rtol=4 * np.finfo(float).eps, maxiter=200))


def uniq_weight_step(bits: int) -> float:
    """c_w[b]: optimal Δ of the 2^b-level symmetric mid-rise quantizer for N(0,1) (c_w[1] =
    2√(2/π)); reproduces UniQ's ``delta_normal`` (``docs/math/uniq.md#constants``)."""
    return optimal_step(uniq_weight_cells(bits))


def uniq_activation_step(bits: int) -> float:
    """c_a[b]: optimal Δ of round-to-nearest {0..M}Δ for ReLU(N(0,1)); reproduces UniQ's
    ``delta_positive_normal`` (``docs/math/uniq.md#constants``)."""
    return optimal_step(uniq_activation_cells(bits))


def bcgd_ceil_step(bits: int) -> float:
    """Optimal α of BCGD's ceil quantizer σ(x, α) against ReLU(x), x ~ N(0,1) (α = √(2/π) for
    b = 1); 0.7979, 0.4866, 0.1666 for b = 1, 2, 4
    (``docs/math/activation-quantizers.md#gaussian-steps``)."""
    return optimal_step(bcgd_ceil_cells(bits))
