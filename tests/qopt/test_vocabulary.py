"""One source for each piece of vocabulary, and one rule for numpy scalars.

Every constructor that takes a bit width, a count or a real number accepts numpy scalars exactly
like Python numbers (and returns/stores plain Python values); bools are refused everywhere."""

from __future__ import annotations

import numpy as np
import pytest

import qopt
import theory
from qopt.nn import STES, QuantReLU, UniQActivation, UniQWeight, constants
from theory import released_tables
from theory.proxies import PROXIES
from theory.sets import MAX_BITS, Uniform


def test_one_list_each() -> None:
    assert STES is PROXIES
    from qopt.models import twolayer

    assert twolayer.STES is PROXIES
    assert constants.BCGD_BIT_ALPHA is released_tables.BCGD_BIT_ALPHA
    assert all(constants.UNIQ_C_W[b] == released_tables.UNIQ_C_W[b] for b in range(1, 10))
    assert max(constants.UNIQ_C_W) == MAX_BITS == theory.MAX_BITS
    from theory import gaussian_steps

    assert gaussian_steps.UNIQ_C_A is released_tables.UNIQ_C_A


@pytest.mark.parametrize("make", [
    lambda b: Uniform(b), lambda b: QuantReLU(bits=b), lambda b: UniQWeight(b),
    lambda b: UniQActivation(b), lambda b: constants.uniq_weight_constant(b),
    lambda b: constants.quant_relu_alpha(b)])
def test_numpy_ints_are_ints_and_bools_are_not(make) -> None:
    a, b = make(4), make(np.int64(4))
    if isinstance(a, float):
        assert a == b
    else:
        assert repr(a) == repr(b)
    for bad in (True, np.bool_(True), 4.0):
        with pytest.raises(TypeError, match="bits"):
            make(bad)
    with pytest.raises(ValueError, match=rf"bits must be an int in \[[12], {MAX_BITS}\]"):
        make(np.int32(MAX_BITS + 1))


def test_numpy_reals_in_methods_and_modules() -> None:
    assert qopt.BCGD(rho=np.float64(1e-3)) == qopt.BCGD(rho=1e-3)
    assert type(qopt.BCGD(rho=np.float32(0.001)).rho) is float
    br = qopt.BinaryRelax(lam0=np.float32(2.0), phase2_at=np.int64(3), growth=np.float64(1.5))
    assert br == qopt.BinaryRelax(lam0=2.0, phase2_at=3, growth=1.5)
    assert QuantReLU(4, alpha=np.float64(0.5)).alpha.item() == 0.5
    with pytest.raises(TypeError, match="learn_alpha"):
        QuantReLU(4, learn_alpha=1)
    assert QuantReLU(4, learn_alpha=np.bool_(True)).learn_alpha is True
    with pytest.raises(TypeError, match="phase2_at"):
        qopt.BinaryRelax(phase2_at=True)
