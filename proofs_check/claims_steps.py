r"""Claims about Gaussian-optimal step sizes (UniQ's c_w, c_a; BCGD's activation α), by quadrature.

An independent implementation: the quantizers are written out here as functions of x, the MSE
:math:`E(x - Q_\Delta(x))^2` (x ~ N(0,1), ReLU'd for activations) is integrated numerically by
``scipy.integrate.quad`` with the decision thresholds as break points, and minimised by
``minimize_scalar`` (bounded, around the best of a log grid) — no cell moments, no derivative
root, unlike :mod:`theory.gaussian_steps`. Compared with the theory's optimum and with the
released tables.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.integrate import quad
from scipy.optimize import minimize_scalar

from proofs_check.claims import Outcome, claim

__all__ = ["bcgd_ceil", "mse", "optimal_step_quad", "uniq_activation", "uniq_weight"]

_PDF = 1.0 / np.sqrt(2.0 * np.pi)


def uniq_weight(x: float, d: float, bits: int) -> float:
    """UniQ weights: Δ·(clip(round(x/Δ + M/2), 0, M) − M/2), M = 2^b − 1 (released UniQ code;
    ``docs/math/uniq.md#weight-quantizer``)."""
    m = 2**bits - 1
    return d * (min(max(np.floor(x / d + m / 2 + 0.5), 0), m) - m / 2)


def uniq_activation(x: float, d: float, bits: int) -> float:
    """UniQ activations on ReLU(x): Δ·clip(round(x/Δ), 0, M) (released UniQ code;
    ``docs/math/uniq.md#activation-quantizer``)."""
    m = 2**bits - 1
    return d * min(max(np.floor(max(x, 0.0) / d + 0.5), 0), m)


def bcgd_ceil(x: float, a: float, bits: int) -> float:
    """BCGD's σ(x, α): 0 for x <= 0, kα on ((k−1)α, kα], Mα above (released BCGD code;
    ``docs/math/activation-quantizers.md#bcgd-quantizer``)."""
    m = 2**bits - 1
    return 0.0 if x <= 0 else a * min(np.ceil(x / a), m)


def mse(q: Callable[[float, float, int], float], d: float, bits: int, relu: bool) -> float:
    """E (t − q(x, Δ))² with t = x (weights) or ReLU(x) (activations), x ~ N(0,1), by quad
    with the quantizer's thresholds as break points."""
    m = 2**bits - 1
    pts = sorted({k * d / 2 for k in range(-2 * m - 2, 2 * m + 3)})
    lo = 0.0 if relu else -12.0

    def f(x: float) -> float:
        t = max(x, 0.0) if relu else x
        return (t - q(x, d, bits)) ** 2 * _PDF * np.exp(-0.5 * x * x)

    inner = [p for p in pts if lo < p < 12.0]
    return quad(f, lo, 12.0, points=inner, limit=400, epsabs=1e-15, epsrel=1e-13)[0]


def optimal_step_quad(q: Callable[[float, float, int], float], bits: int, relu: bool) -> float:
    """argmin_Δ mse: best of a 48-point log grid on [0.01, 3], refined by bounded Brent."""
    grid = np.geomspace(0.01, 3.0, 48)
    vals = [mse(q, g, bits, relu) for g in grid]
    k = int(np.clip(np.argmin(vals), 1, grid.size - 2))
    res = minimize_scalar(lambda d: mse(q, d, bits, relu), bounds=(grid[k - 1], grid[k + 1]),
                          method="bounded", options={"xatol": 1e-11})
    return float(res.x)


@claim("uniq_gaussian_steps",
       "UniQ's c_w[b], c_a[b] are the MSE-optimal steps for N(0,1) / ReLU(N(0,1)), b = 1..4",
       "UniQ released code (UniQQuantizer.delta_normal / delta_positive_normal); optimality "
       "derived here (docs/math/uniq.md#constants)", "quadrature")
def _uniq() -> Outcome:
    from theory import gaussian_steps as gs

    worst_theory, worst_cw, worst_ca = 0.0, 0.0, 0.0
    for b in (1, 2, 3, 4):
        qw = optimal_step_quad(uniq_weight, b, relu=False)
        qa = optimal_step_quad(uniq_activation, b, relu=True)
        worst_theory = max(worst_theory, abs(qw / gs.uniq_weight_step(b) - 1),
                           abs(qa / gs.uniq_activation_step(b) - 1))
        worst_cw = max(worst_cw, abs(qw / gs.UNIQ_C_W[b] - 1))
        worst_ca = max(worst_ca, abs(qa / gs.UNIQ_C_A[b] - 1))
    held = worst_theory <= 1e-6 and worst_cw <= 1e-6 and worst_ca <= 5e-5
    return Outcome(held, max(worst_theory, worst_cw), "max rel. diff quad vs theory and vs c_w "
                   "(holds <= 1e-6); vs c_a holds <= 5e-5 (table printed to ~5 digits)",
                   f"quad vs theory {worst_theory:.1e}, vs c_w {worst_cw:.1e}, "
                   f"vs c_a {worst_ca:.1e}")


@claim("bcgd_gaussian_steps",
       "BCGD ceil-quantizer optimum alpha(b) for ReLU(N(0,1)) is 0.7979, 0.4866, 0.1666 "
       "(b = 1, 2, 4); the released bit_alpha is the round-to-nearest optimum c_a instead",
       "BCGD released code (nets/quant_uni_type.py bit_alpha); optima derived here; whether "
       "the mismatch is intended is not known (docs/math/activation-quantizers.md#bit-alpha)",
       "quadrature")
def _bcgd() -> Outcome:
    from theory import gaussian_steps as gs

    quoted = {1: 0.7979, 2: 0.4866, 4: 0.1666}
    worst_theory, worst_quoted, worst_near, min_far = 0.0, 0.0, 0.0, np.inf
    for b in (1, 2, 4):
        qc = optimal_step_quad(bcgd_ceil, b, relu=True)
        qa = optimal_step_quad(uniq_activation, b, relu=True)
        worst_theory = max(worst_theory, abs(qc / gs.bcgd_ceil_step(b) - 1))
        worst_quoted = max(worst_quoted, abs(qc / quoted[b] - 1))
        worst_near = max(worst_near, abs(gs.BCGD_BIT_ALPHA[b] / qa - 1))
        min_far = min(min_far, abs(gs.BCGD_BIT_ALPHA[b] / qc - 1))
    held = (worst_theory <= 1e-6 and worst_quoted <= 5e-4 and worst_near <= 0.01
            and min_far >= 0.1)
    return Outcome(held, worst_theory, "max rel. diff quad vs theory.bcgd_ceil_step; holds "
                   "<= 1e-6 (quoted digits <= 5e-4; bit_alpha within 1% of c_a, >= 10% off the "
                   "ceil optimum)",
                   f"vs quoted {worst_quoted:.1e}; bit_alpha vs round-optimum {worst_near:.2%}, "
                   f"vs ceil-optimum >= {min_far:.0%}")
