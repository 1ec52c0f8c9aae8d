"""Gaussian-optimal constants: the qopt tables against theory/ (an independent scipy
implementation of the same cell integrals) and against first principles.

Tolerances: derived entries are stored with 12 significant digits and both sides root-find the
derivative, hence 1e-9 relative. UniQ's released c_a comes from a coarser optimisation: it
agrees to 1.2e-5 for b <= 5 and only to 3.3e-4 at b = 9 (measured here;
``docs/math/uniq.md#constants``).
"""

from __future__ import annotations

import math

import pytest

from qopt.nn.constants import (
    BCGD_BIT_ALPHA,
    CEIL_OPTIMAL_ALPHA,
    ROUND_OPTIMAL_ALPHA,
    UNIQ_C_A,
    UNIQ_C_W,
    quant_relu_alpha,
    uniq_activation_constant,
    uniq_weight_constant,
)

gs = pytest.importorskip("theory.gaussian_steps")


def test_closed_forms() -> None:
    assert UNIQ_C_W[1] == pytest.approx(2 * math.sqrt(2 / math.pi), rel=1e-12)  # 2 E|X|
    assert CEIL_OPTIMAL_ALPHA[1] == pytest.approx(math.sqrt(2 / math.pi), rel=1e-9)  # E[X|X>0]


@pytest.mark.parametrize("bits", range(1, 11))
def test_tables_match_theory(bits: int) -> None:
    assert UNIQ_C_W[bits] == pytest.approx(gs.uniq_weight_step(bits), rel=1e-9)
    assert ROUND_OPTIMAL_ALPHA[bits] == pytest.approx(gs.uniq_activation_step(bits), rel=1e-9)
    assert CEIL_OPTIMAL_ALPHA[bits] == pytest.approx(gs.bcgd_ceil_step(bits), rel=1e-9)
    # released c_a: measured max deviation 1.2e-5 (b <= 5), 3.3e-4 (b = 9)
    tol = 2e-5 if bits <= 5 else 4e-4
    assert UNIQ_C_A[bits] == pytest.approx(gs.uniq_activation_step(bits), rel=tol)


def test_tables_complete_and_decreasing() -> None:
    for table in (UNIQ_C_W, UNIQ_C_A, ROUND_OPTIMAL_ALPHA, CEIL_OPTIMAL_ALPHA):
        assert sorted(table) == list(range(1, 17))
        vals = [table[b] for b in range(1, 17)]
        assert all(a > b > 0 for a, b in zip(vals, vals[1:]))
        # high-resolution regime: the step roughly halves per extra bit
        assert 0.45 < vals[-1] / vals[-2] < 0.56


def test_bcgd_bit_alpha_is_round_not_ceil_optimum() -> None:
    """Released bit_alpha are round-to-nearest optima (within 0.7%), not ceil optima; whether that
    was intended is not known (``docs/math/activation-quantizers.md#bit-alpha``)."""
    for b, a in BCGD_BIT_ALPHA.items():
        assert a == pytest.approx(ROUND_OPTIMAL_ALPHA[b], rel=7e-3)
        assert abs(a / CEIL_OPTIMAL_ALPHA[b] - 1) > 0.15


def test_quant_relu_alpha_choices() -> None:
    assert quant_relu_alpha(2) == CEIL_OPTIMAL_ALPHA[2]
    assert quant_relu_alpha(2, "round") == ROUND_OPTIMAL_ALPHA[2]
    assert quant_relu_alpha(2, "ceil", "round") == ROUND_OPTIMAL_ALPHA[2]
    assert quant_relu_alpha(4, "ceil", "bcgd") == 0.1946
    assert uniq_weight_constant(3) == UNIQ_C_W[3] and uniq_activation_constant(3) == UNIQ_C_A[3]
    with pytest.raises(ValueError, match="bcgd"):
        quant_relu_alpha(3, "ceil", "bcgd")
    with pytest.raises(ValueError, match="bits"):
        uniq_weight_constant(17)
    with pytest.raises(ValueError, match="init"):
        quant_relu_alpha(2, "ceil", "lloyd")
