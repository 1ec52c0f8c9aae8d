r"""The Gaussian population numbers the documentation and docstrings state, recomputed.

``docs/math/quantization-sets.md#ternary``, ``#multi-bit`` and
``docs/math/approximate-quantizers.md#ratios`` (and the docstrings of :mod:`theory.approximate`)
state relative errors :math:`\|w - q\|^2/\|w\|^2` and optimal scales for i.i.d. N(0, 1) weights in
the population limit n → ∞. Every quantizer there is, in that limit, a piecewise-constant map of
one entry with cells :math:`[\tau_k\alpha, \tau_{k+1}\alpha)` sent to :math:`l_k\alpha`, so its
mean squared error is the exact cell integral :func:`theory.gaussian_steps.cell_mse` (and the
optimal free scale is :func:`theory.gaussian_steps.optimal_step`, a root of the derivative to
~1e-15). Derived here:

* exact projection onto :math:`\alpha\{-K..K\}`: nearest-level cells (edges at half-integers),
  optimal α; for the scaled ternary set (K = 1) the threshold is α*/2 (cone facts);
* TWN (Li & Liu 2016): threshold :math:`t = 0.7\,E|w| = 0.7\sqrt{2/\pi}`, level the mean of the
  kept :math:`|w|`, :math:`\alpha = \varphi(t)/(1-\Phi(t))`;
  error :math:`1 - 2\varphi(t)^2/(1-\Phi(t))`;
* the released ``quantize_tnn``: same threshold, level :math:`E[|w|1\{|w|>t\}] = 2\varphi(t)`
  (the sum over the kept entries divided by n); error :math:`1 - 8\varphi^2 + 8\varphi^2(1-\Phi)`.

Each is checked two ways (the cell integral and the closed form, to 1e-12), against the sample
quantizers of :mod:`theory` at n = 10⁶ (tolerance 5 sampling standard deviations, measured over
40 seeds at n = 2·10⁴ and scaled by √(2·10⁴/10⁶)), and against the text of the pages.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.special import ndtr

from theory import Ternary, project
from theory import approximate as A
from theory.gaussian_steps import cell_mse, optimal_step, uniq_activation_step

ROOT = Path(__file__).resolve().parents[2]
E_ABS = np.sqrt(2 / np.pi)  # E|w| for w ~ N(0, 1)
T_TWN = 0.7 * E_ABS  # TWN's (and quantize_tnn's) threshold


def _phi(x: float) -> float:
    return float(np.exp(-x * x / 2) / np.sqrt(2 * np.pi))


def _symmetric_cells(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Nearest-level cells of {-K..K} in units of the step: edges at ±1/2, ..., ±(K - 1/2)."""
    tau = np.concatenate([[-np.inf], np.arange(-k, k) + 0.5, [np.inf]])
    return tau, np.arange(-k, k + 1, dtype=np.float64)


def _ternary_map_error(threshold: float, level: float) -> float:
    """Population relative error of w -> level·sign(w)·1{|w| > threshold} (E w² = 1)."""
    cells = (np.array([-np.inf, -threshold / level, threshold / level, np.inf]),
             np.array([-1.0, 0.0, 1.0]))
    return cell_mse(level, cells)


def exact_uniform(k: int) -> tuple[float, float]:
    """(optimal α/σ, relative error) of the exact projection onto α{-K..K}."""
    cells = _symmetric_cells(k)
    alpha = optimal_step(cells)
    return alpha, cell_mse(alpha, cells)


def twn_error() -> float:
    return _ternary_map_error(T_TWN, _phi(T_TWN) / (1 - ndtr(T_TWN)))


def quantize_tnn_error() -> float:
    return _ternary_map_error(T_TWN, 2 * _phi(T_TWN))


# (K, α*/σ, relative error) as printed in docs/math/quantization-sets.md#multi-bit
UNIFORM = [(1, 1.2240, 0.1902), (3, 0.6508, 0.0469), (7, 0.3534, 0.0129)]


@pytest.mark.parametrize("k,alpha,err", UNIFORM, ids=["K=1", "K=3", "K=7"])
def test_exact_uniform_optimum(k: int, alpha: float, err: float) -> None:
    a, e = exact_uniform(k)
    # printed to 4 decimals: half a unit of the last digit
    assert a == pytest.approx(alpha, abs=5e-5) and e == pytest.approx(err, abs=5e-5)
    # mirror symmetry: the same step as UniQ's activation optimum for ReLU(N(0,1)), b = log2(K+1)
    assert a == pytest.approx(uniq_activation_step(int(np.log2(k + 1))), rel=1e-10)


def test_exact_ternary_threshold_and_support() -> None:
    a, e = exact_uniform(1)
    assert a / 2 == pytest.approx(0.612, abs=5e-4)  # threshold α*/2 in units of σ
    assert a / 2 / E_ABS == pytest.approx(0.767, abs=5e-4)  # ... in units of E|w|
    assert 2 * (1 - ndtr(a / 2)) == pytest.approx(0.5405, abs=5e-5)  # kept fraction 54.05 %
    assert 1 - 2 / np.pi == pytest.approx(0.3634, abs=5e-5)  # binary, for comparison


def test_twn_and_quantize_tnn_population_errors() -> None:
    exact = exact_uniform(1)[1]
    twn, tnn = twn_error(), quantize_tnn_error()
    # the cell integrals agree with the closed forms (float64 rounding only)
    q = 1 - ndtr(T_TWN)
    assert twn == pytest.approx(1 - 2 * _phi(T_TWN) ** 2 / q, rel=1e-12)
    assert tnn == pytest.approx(1 - 8 * _phi(T_TWN) ** 2 * (1 - q), rel=1e-12)
    assert twn == pytest.approx(0.1916, abs=5e-5) and tnn == pytest.approx(0.3366, abs=5e-5)
    assert twn / exact == pytest.approx(1.0076, abs=5e-5)
    assert tnn / exact == pytest.approx(1.770, abs=5e-4)
    assert 2 * (1 - ndtr(T_TWN)) == pytest.approx(0.5765, abs=5e-5)  # quantize_tnn's |I|/n


def test_population_values_match_the_sample_quantizers() -> None:
    """theory.project / twn / binaryrelax_ternary on 10⁶ draws (seed 0) against the integrals.
    Sampling sd at n = 10⁶: 2.6e-4 (exact, TWN), 3.4e-4 (quantize_tnn), 2.2e-5 for the paired
    difference TWN − exact on the same draws; tolerances are 5 sd."""
    w = np.random.default_rng(0).standard_normal(10**6)
    ww = float(w @ w)
    exact = project(w, Ternary()).dist2 / ww
    twn = A.twn(w).dist2 / ww
    tnn = A.binaryrelax_ternary(w).dist2 / ww
    pop = exact_uniform(1)[1]
    assert exact == pytest.approx(pop, abs=1.3e-3)
    assert twn == pytest.approx(twn_error(), abs=1.3e-3)
    assert tnn == pytest.approx(quantize_tnn_error(), abs=1.7e-3)
    assert twn - exact == pytest.approx(twn_error() - pop, abs=1.1e-4)


@pytest.mark.parametrize("page,numbers", [
    ("docs/math/quantization-sets.md",
     ["54.05", "0.612σ", "0.767", "1.2240σ", "0.1902", "0.1916", "0.3634", "0.6508", "0.3534",
      "0.0469", "0.0129"]),
    ("docs/math/approximate-quantizers.md",
     ["exact 0.1902, TWN 0.1916 (ratio 1.0076), `quantize_tnn` 0.3366 (ratio 1.770)",
      "(about 0.58 for Gaussian weights)"]),
    ("theory/approximate.py", ["0.1902", "0.1916", "0.3366", "1.770", "0.5765"]),
])
def test_the_pages_state_these_numbers(page: str, numbers: list[str]) -> None:
    text = (ROOT / page).read_text(encoding="utf-8")
    missing = [n for n in numbers if n not in text]
    assert not missing, f"{page} no longer states {missing}: update the page and this test"
