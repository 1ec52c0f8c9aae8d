"""proofs_check.strategies generate the promised edge cases; assert helpers work in two lines."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given

from proofs_check import assert_in_set, assert_optimal, assert_projection
from proofs_check.search import explore
from proofs_check.strategies import quant_sets, weight_matrices, weights, weights_for
from proofs_check.tolerance import Tolerance
from tests.proofs_check import wrong_quantizers as wq
from theory import Binary, Grid, QuantSet, Ternary, Uniform, project


def _has_tie(w):
    nz = np.abs(w[w != 0])
    return nz.size >= 2 and np.unique(nz).size < nz.size


def test_weights_contain_zeros_ties_and_wide_range():
    """Over the 100 inputs a derandomized run draws, each edge case is frequent."""
    ws = explore(weights(), 100)
    assert len(ws) >= 90
    frac = lambda pred: np.mean([bool(pred(w)) for w in ws])  # noqa: E731
    assert frac(lambda w: np.any(w == 0) and np.any(w != 0)) > 0.2
    assert frac(_has_tie) > 0.2
    assert frac(lambda w: np.ptp(np.log2(np.abs(w[w != 0]))) > 10 if np.sum(w != 0) > 1
                else False) > 0.1
    q = Grid([-1, 0, 1], scale=0.5)
    assert np.mean([np.any(np.isin(w, [0.25, -0.25])) for w in explore(weights(qset=q), 100)
                    ]) > 0.2


@given(weights(dtype=np.float16))
def test_weights_are_representable_in_the_dtype(w):
    assert w.dtype == np.float64 and w.ndim == 1 and 1 <= w.size <= 12
    assert np.array_equal(w.astype(np.float16).astype(np.float64), w)
    assert np.all(np.isfinite(w))


@given(weight_matrices(axis=1))
def test_weight_matrices_slices_along_axis(a):
    assert a.ndim == 2 and 1 <= a.shape[1] <= 4 and 1 <= a.shape[0] <= 8


@given(quant_sets())
def test_quant_sets_are_valid(qs):
    assert isinstance(qs, QuantSet)
    w = np.array([0.3, -1.2, 2.0])
    assert project(w, qs).q.shape == (3,)


@given(weights_for(Uniform(3), axis=0))
def test_weights_for_per_slice(a):
    assert a.ndim == 2


def test_strategy_argument_errors():
    with pytest.raises(ValueError):
        weights(3, 2)
    with pytest.raises(ValueError):
        quant_sets(fixed=False, free=False)


def test_tolerance_scales_with_dtype_and_length():
    t64, t32 = Tolerance.for_dtype(np.float64, 1), Tolerance.for_dtype(np.float32, 1)
    assert t64.rel == pytest.approx(32 * np.finfo(np.float64).eps)
    assert t32.rel / t64.rel == pytest.approx(np.finfo(np.float32).eps / np.finfo(float).eps)
    assert Tolerance.for_dtype(np.float64, 1024).rel == pytest.approx(11 * t64.rel)
    # 16-bit storage formats: (c/8) eps, no log n factor
    assert Tolerance.for_dtype(np.float16, 1000).rel == pytest.approx(4 * 2.0**-10)
    assert Tolerance.for_dtype("bfloat16", 1000).rel == pytest.approx(4 * 2.0**-7)
    with pytest.raises(TypeError):
        Tolerance.for_dtype(np.int32, 4)


def test_assert_projection_two_lines():
    assert_projection(lambda w: project(w, Ternary()), Ternary(), max_examples=20)
    with pytest.raises(AssertionError, match="optimality.*FAIL"):
        assert_projection(wq.twn_ternary, "ternary", max_examples=20)


def test_assert_in_set_and_assert_optimal():
    assert_in_set(np.array([0.0, 1.5, -1.5]), Ternary())
    assert_in_set(np.array([[1.0, -1.0], [0.2, 0.2]]), Binary(), axis=0)
    with pytest.raises(AssertionError, match="slice 0 is not in binary"):
        assert_in_set(np.array([0.5, 0.0]), Binary())
    with pytest.raises(AssertionError, match="slice 1"):
        assert_in_set(np.array([[1.0, -1.0], [0.2, 0.1]]), Binary(), axis=0)
    w = np.array([1.0, 2.0])
    assert_optimal(w, project(w, Ternary()).q, Ternary())
    with pytest.raises(AssertionError, match="ratio 2"):
        assert_optimal(w, wq.twn_ternary(w), Ternary())
