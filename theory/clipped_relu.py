r"""The clipped-ReLU integrals p(θ, ‖w‖), q(θ, ‖w‖) of the two-layer STE model, in closed form.

In the two-linear-layer Gaussian model of :mod:`theory.twolayer` (STE paper, Yin et al. 2019b;
``docs/math/two-layer-model.md#clipped-relu-ste``), the expected coarse gradient of the clipped-ReLU
proxy :math:`\mu'(x) = 1\{0 < x < 1\}` needs, for :math:`z \sim N(0, I_n)`,

.. math::

    p\,\hat w + q\,e_\perp = E\big[z\,1\{0 < z^\top w < 1\}\,1\{z^\top w^* > 0\}\big],

with :math:`\hat w = w/\|w\|`, θ = ∠(w, w\*), :math:`e_\perp` the unit vector of the component of
w\* orthogonal to w. Unlike the identity and ReLU proxies, this depends on :math:`\|w\|` through
:math:`t = 1/\|w\|`.

* :func:`clipped_pq` — the closed forms [derived here], evaluated per regime without
  cancellation (relative accuracy ≲ 1e-12 against 40-digit mpmath quadrature in
  ``tests/theory/test_twolayer.py``);
* :func:`clipped_pq_paper_quad` — the paper's polar integrals by ``scipy.integrate.quad``: an
  independent reference for the cross-check.

:data:`KINK_TOL`: θ is treated as 0 or π when sin θ (or, in :mod:`theory.twolayer`,
:math:`\|(I-\hat w\hat w^\top)u\|`) is at most this rounding-level tolerance.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.integrate import IntegrationWarning, quad
from scipy.special import erf, erfc, ndtr

from theory._validate import check_positive_scalar

__all__ = ["KINK_TOL", "clipped_pq", "clipped_pq_paper_quad"]

KINK_TOL = 16 * np.finfo(np.float64).eps
_PHI0 = 1.0 / np.sqrt(2.0 * np.pi)


def _phi(x: float) -> float:
    return float(np.exp(-0.5 * x * x) * _PHI0)


def _p_cartesian_quad(theta: float, t: float) -> float:
    """p = t^2 int_0^1 s phi(ts) Phi(ts cot(theta)) ds (relative accuracy ~1e-15)."""
    k = np.cos(theta) / np.sin(theta)
    layer = abs(np.tan(theta)) / t  # width of the boundary layer of Phi(t s k) in s
    pts = [x for x in (0.5 * layer, 5.0 * layer) if 0.0 < x < 1.0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IntegrationWarning)
        val, _ = quad(lambda s: s * _phi(t * s) * ndtr(t * s * k), 0.0, 1.0,
                      points=pts or None, epsabs=0.0, epsrel=2e-14, limit=200)
    return t * t * val


def clipped_pq(theta: float, norm_w: float) -> tuple[float, float]:
    r"""The clipped-ReLU integrals p(θ, ‖w‖), q(θ, ‖w‖) of the clipped-ReLU STE, in closed form.

    Definition [the polar form expected in the later arXiv version's lemma, which was not read:
    unverified; ``docs/math/two-layer-model.md#clipped-relu-ste``]: with t = 1/‖w‖,
    :math:`p = \frac1{2\pi}\int_{\theta-\pi/2}^{\pi/2}\cos\varphi\,\xi(t\sec\varphi)d\varphi`,
    :math:`q = \frac1{2\pi}\int_{\theta-\pi/2}^{\pi/2}\sin\varphi\,\xi(t\sec\varphi)d\varphi`,
    :math:`\xi(x) = \int_0^x r^2e^{-r^2/2}dr`; equivalently
    :math:`p\,\hat w + q\,e_\perp = E[z\,1\{0<z^\top w<1\}\,1\{z^\top w^*>0\}]`.

    Closed forms [derived here: Cartesian coordinates x = zᵀŵ, y = zᵀe⊥, k = cot θ, then
    :math:`p = \int_0^t x\varphi(x)\Phi(kx)dx` integrated by parts and
    :math:`q = \int_0^t\varphi(x)\varphi(kx)dx`; checked against the paper's polar integrals
    (:func:`clipped_pq_paper_quad`) and 40-digit mpmath quadrature in the tests]:

    .. math::

        q = \frac{\sin\theta}{2\sqrt{2\pi}}\,\mathrm{erf}\Big(\frac{t}{\sqrt2\sin\theta}\Big),\qquad
        p = \frac{1}{2\sqrt{2\pi}}\Big(1 + \cos\theta\,\mathrm{erf}\frac{t}{\sqrt2\sin\theta}\Big)
            - \varphi(t)\,\Phi(t\cot\theta),

    with :math:`p(0) = (1-e^{-t^2/2})/\sqrt{2\pi}`, :math:`p(\pi) = q(0) = q(\pi) = 0`. p is
    evaluated in a cancellation-free arrangement per regime (small t: the Cartesian integral by
    ``scipy.integrate.quad``), giving relative accuracy ≲ 1e-12 (tested against mpmath).
    """
    theta = check_positive_scalar(theta, "theta", allow_zero=True)
    if theta > np.pi:
        raise ValueError(f"theta must lie in [0, pi], got {theta}")
    t = 1.0 / check_positive_scalar(norm_w, "norm_w")
    s, c = np.sin(theta), np.cos(theta)
    p0 = -np.expm1(-0.5 * t * t) * _PHI0
    if s <= KINK_TOL:
        return (float(p0) if c > 0 else 0.0), 0.0
    a = t / (np.sqrt(2.0) * s)
    q = s * erf(a) * _PHI0 / 2.0
    if c < 0 and a >= 4.0:
        p = _PHI0 / 2.0 * (2.0 * np.cos(theta / 2.0) ** 2 - c * erfc(a)) - _phi(t) * ndtr(t * c / s)
    elif t < 0.25:
        p = _p_cartesian_quad(theta, t)
    elif c >= 0:
        p = p0 / 2.0 + 0.5 * (c * _PHI0 * erf(a) - _phi(t) * erf(a * c))
    else:
        p = _PHI0 / 2.0 * (2.0 * np.cos(theta / 2.0) ** 2 - c * erfc(a)) - _phi(t) * ndtr(t * c / s)
    return float(p), float(q)


def clipped_pq_paper_quad(theta: float, norm_w: float) -> tuple[float, float]:
    r"""p, q by ``scipy.integrate.quad`` of the polar integrals above (the form expected in the
    paper's later version, not read), with
    :math:`\xi(x) = \sqrt{\pi/2}\,\mathrm{erf}(x/\sqrt2) - xe^{-x^2/2}`. An independent reference
    for :func:`clipped_pq` (absolute accuracy ~1e-16)."""
    theta = check_positive_scalar(theta, "theta", allow_zero=True)
    if theta > np.pi:
        raise ValueError(f"theta must lie in [0, pi], got {theta}")
    t = 1.0 / check_positive_scalar(norm_w, "norm_w")

    def xi(phi: float) -> float:
        cphi = np.cos(phi)
        if cphi <= 0.0:
            return float(np.sqrt(np.pi / 2.0))
        x = t / cphi
        return float(np.sqrt(np.pi / 2.0) * erf(x / np.sqrt(2.0)) - x * np.exp(-0.5 * x * x))

    lo, hi = theta - np.pi / 2.0, np.pi / 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IntegrationWarning)
        p, _ = quad(lambda f: np.cos(f) * xi(f), lo, hi, epsabs=1e-17, epsrel=1e-13, limit=400)
        q, _ = quad(lambda f: np.sin(f) * xi(f), lo, hi, epsabs=1e-17, epsrel=1e-13, limit=400)
    return p / (2.0 * np.pi), q / (2.0 * np.pi)
