"""The approximate quantizers: feasible, never better than the exact projection, strictly worse on
Gaussian weights, with the measured ratios of theory/approximate.py's table pinned in a band."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.theory.strategies import any_weights, gaussian_weights
from theory import Symmetric, Ternary, Uniform, project
from theory import approximate as A
from theory.projection import code_dtype

# (name, quantizer, its set, measured ratio at n = 1e5 seed 0, band half-width)
CASES = [
    ("twn", A.twn, Ternary(), 1.00706, 0.002),
    ("binaryrelax_ternary", A.binaryrelax_ternary, Ternary(), 1.7578, 0.01),
    ("bcgd_fbit", A.bcgd_fbit, Uniform(4), 2.4521, 0.02),
    ("lloyd_u4", lambda w, axis=None: A.lloyd(w, Uniform(4), axis), Uniform(4), 1.6880, 0.01),
    ("lloyd_ternary", lambda w, axis=None: A.lloyd(w, Ternary(), axis), Ternary(), 1.0, 1e-5),
    ("parq_uniform2", lambda w, axis=None: A.parq_uniform(w, 2, axis), Symmetric(2), 1.0137, 0.002),
    ("parq_uniform4", lambda w, axis=None: A.parq_uniform(w, 4, axis), Symmetric(4), 1.3046, 0.01),
    ("parq_lsbq", lambda w, axis=None: A.parq_lsbq_ternary(w), Ternary(), 1.8441, 0.01),
]
IDS = [c[0] for c in CASES]
PER_SLICE = [c for c in CASES if c[0] != "parq_lsbq"]


@pytest.fixture(scope="module")
def gauss() -> np.ndarray:
    return np.random.default_rng(0).standard_normal(10**5)


@pytest.mark.parametrize("name,fn,qset,ratio,band", CASES, ids=IDS)
def test_measured_ratio_on_gaussian_weights(gauss, name, fn, qset, ratio, band):
    r = fn(gauss)
    exact = project(gauss, qset).dist2
    assert abs(r.dist2 / exact - ratio) <= band
    if name != "lloyd_ternary":
        assert r.dist2 > exact * (1 + 1e-4)  # strictly worse, beyond rounding


def _feasible(w, r, qset) -> None:
    assert r.q.shape == np.shape(w) and r.codes.dtype == code_dtype(qset.n_levels)
    np.testing.assert_array_equal(r.q, r.scale * qset.levels[r.codes])
    assert np.all(np.asarray(r.scale) >= 0)
    assert abs(r.dist2 - np.sum((w - r.q) ** 2)) <= 1e-12 * (np.sum(w**2) + np.sum(r.q**2))


@pytest.mark.parametrize("name,fn,qset,ratio,band", CASES, ids=IDS)
@given(w=st.one_of(any_weights(1, 40), gaussian_weights(1, 500)))
def test_never_better_than_the_exact_projection(name, fn, qset, ratio, band, w):
    r = fn(w)
    _feasible(w, r, qset)
    assert r.dist2 >= project(w, qset).dist2 - 1e-12 * np.sum(w**2)


@pytest.mark.parametrize("name,fn,qset,ratio,band", PER_SLICE, ids=[c[0] for c in PER_SLICE])
def test_per_slice_equals_per_tensor_calls(name, fn, qset, ratio, band, rng):
    w = rng.standard_normal((4, 50)) * np.array([[0.1], [1.0], [3.0], [10.0]])
    r = fn(w, axis=0)
    for c in range(4):
        rc = fn(w[c])
        np.testing.assert_allclose(r.q[c], rc.q, rtol=1e-13, atol=0)
        assert abs(r.dist2[c] - rc.dist2) <= 1e-12 * np.sum(w[c] ** 2)


def test_code_faithful_ternary_divides_by_n():
    """quantize_tnn: scale = sum of kept |w| over n, TWN: over the kept count."""
    w = np.array([3.0, -1.0, 0.1, 0.1])  # 0.7 mean|w| = 0.735: keeps 3 and -1
    assert A.binaryrelax_ternary(w).scale == pytest.approx(4.0 / 4)
    assert A.twn(w).scale == pytest.approx(4.0 / 2)
    assert A.binaryrelax_ternary(w).codes.tolist() == [2, 0, 1, 1]


def test_bcgd_fbit_intervals_are_right_closed():
    w = np.array([15.0, 1.0, 3.0, 3.0001, -13.0, -13.01])  # delta = 1
    r = A.bcgd_fbit(w)
    assert (r.codes - 7).tolist() == [7, 0, 1, 2, -6, -7]


def test_parq_lsbq_uses_the_threshold_as_level():
    """v = (1/2) mean{|w| > v} is the optimal *threshold* of a ternary fit, but it is used as the
    level: far below the least-squares scale of its own codes (the documented defect)."""
    w = np.random.default_rng(1).standard_normal(256)
    r = A.parq_lsbq_ternary(w)
    a = np.abs(w)
    assert r.scale == pytest.approx(0.5 * a[a > r.scale].mean(), rel=1e-12)
    z = Ternary().levels[r.codes]
    assert r.scale < 0.7 * np.dot(w, z) / np.dot(z, z)


def test_lloyd_can_stall_where_the_sweep_does_not():
    w = np.random.default_rng(0).standard_normal(10**4)
    assert A.lloyd(w, Uniform(4)).dist2 > 1.2 * project(w, Uniform(4)).dist2
    with pytest.raises(ValueError, match="free-scale"):
        A.lloyd(w, Uniform(4, scale=1.0))
