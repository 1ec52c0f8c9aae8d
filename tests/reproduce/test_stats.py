"""t intervals against scipy's own confidence intervals (an independent route), coverage by
simulation, and the degenerate conventions (n = 1, zero spread, bad input)."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as ss

from qopt.reproduce.stats import paired_interval, t_interval, welch_interval

samples = st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=2, max_size=12)


@given(samples)
def test_one_sample_matches_scipy(xs):
    iv = t_interval(xs)
    if np.std(xs) < 1e-9 * (1 + max(map(abs, xs))):
        return  # zero spread: covered by its own test (scipy returns nan there)
    ref = ss.ttest_1samp(xs, 0.0).confidence_interval(0.95)
    assert iv.lo == pytest.approx(ref.low, rel=1e-9, abs=1e-9)
    assert iv.hi == pytest.approx(ref.high, rel=1e-9, abs=1e-9)
    assert iv.df == len(xs) - 1 and iv.method == "t"


@given(st.lists(st.tuples(st.floats(-10, 10), st.floats(-10, 10)), min_size=2, max_size=10))
def test_paired_matches_scipy_ttest_rel(pairs):
    a, b = [p[0] for p in pairs], [p[1] for p in pairs]
    d = np.subtract(a, b)
    if np.std(d) < 1e-9:
        return
    iv = paired_interval(a, b)
    ref = ss.ttest_rel(a, b).confidence_interval(0.95)
    assert (iv.lo, iv.hi) == (pytest.approx(ref.low, abs=1e-9), pytest.approx(ref.high, abs=1e-9))
    assert iv.method == "paired t" and iv.n == len(a)


def test_welch_matches_scipy():
    rng = np.random.default_rng(0)
    for _ in range(20):
        a = rng.normal(1, 2, rng.integers(2, 9))
        b = rng.normal(0, 0.5, rng.integers(2, 9))
        iv = welch_interval(a, b, 0.9)
        ref = ss.ttest_ind(a, b, equal_var=False).confidence_interval(0.9)
        assert iv.lo == pytest.approx(ref.low, rel=1e-9)
        assert iv.hi == pytest.approx(ref.high, rel=1e-9)


def test_coverage_is_close_to_nominal():
    # 4000 simulated 5-seed experiments with true mean 0.3: the 95% interval covers 0.3 in
    # 95% +- 3 binomial SE (SE = sqrt(.95*.05/4000) = 0.0034) of them
    rng = np.random.default_rng(1)
    hits = sum(iv.lo < 0.3 < iv.hi for iv in (t_interval(rng.normal(0.3, 1.0, 5))
                                               for _ in range(4000)))
    assert abs(hits / 4000 - 0.95) < 3 * 0.0035


def test_pairing_removes_shared_seed_noise():
    # a = b + 0.01 exactly per seed, b varies a lot: paired interval is tight, Welch is wide
    b = [0.5, 0.9, 0.7, 0.6, 0.8]
    a = [x + 0.01 + e for x, e in zip(b, [1e-3, -1e-3, 0, 2e-3, -2e-3])]
    p, w = paired_interval(a, b), welch_interval(a, b)
    assert p.lo > 0 and w.lo < 0 < w.hi
    assert p.hi - p.lo < 0.01 < w.hi - w.lo


def test_n1_is_unbounded_and_flagged():
    for iv in (t_interval([0.7]), paired_interval([0.7], [0.2]), welch_interval([1.0], [0, 1])):
        assert iv.degenerate == "n=1" and iv.lo == -math.inf and iv.hi == math.inf
    assert "no interval" in t_interval([0.7]).fmt()


def test_zero_spread_is_zero_width_and_flagged():
    iv = paired_interval([0.9, 0.8, 0.7], [0.8, 0.7, 0.6])
    assert iv.degenerate == "zero spread"
    assert iv.lo == iv.hi == pytest.approx(0.1)
    assert welch_interval([1, 1], [0, 0]).degenerate == "zero spread"


def test_bad_input_raises():
    with pytest.raises(ValueError, match="empty"):
        t_interval([])
    with pytest.raises(ValueError, match="non-finite"):
        t_interval([0.1, float("nan")])
    with pytest.raises(ValueError, match="same length"):
        paired_interval([1, 2], [1])
    with pytest.raises(ValueError, match="level"):
        t_interval([1, 2], level=1.5)
    with pytest.raises(ValueError, match="numbers"):
        t_interval(["a", 1])


def test_accuracy_intervals_are_shown_inside_0_100():
    """Two seeds far apart: the t interval (t_{0.975,1} = 12.7) reaches past 100% and below 0;
    shown clipped with ACCURACY, unclipped without (the verdicts use the raw interval)."""
    from qopt.reproduce.stats import ACCURACY, t_interval

    iv = t_interval([0.70, 0.97])
    assert iv.hi > 1.0 and iv.lo < 0.0
    assert iv.fmt(100, 1, ACCURACY) == "83.5 [0.0, 100.0]"
    assert iv.fmt(100, 1).startswith("83.5 [-") and not iv.fmt(100, 1).endswith("100.0]")
