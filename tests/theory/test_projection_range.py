"""theory.project over the whole float range (issue 11 item 8): subnormal to the largest float.

Weights are small integers times a power of two 2^k, so every scaling in the test is exact and
the projection of 2^k w must be the projection of w moved by the same power of two: the *same
codes* and, where representable, ``scale`` and ``q`` equal bitwise to ``ldexp(., k)`` of the
unit-scale result (one rounding in both). Where the result cannot be represented the function
must say so (ValueError naming the range), never return inf, NaN or wrong codes.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.theory.strategies import ALL_SETS, FREE_SETS, brute_force, max_n, set_id
from theory import Grid, Symmetric, Ternary, Uniform, project
from theory.sets import level_midpoints

INTS = st.lists(st.integers(-15, 15), min_size=1, max_size=12)
F64 = np.finfo(np.float64)


def _unit(ints: list[int]) -> np.ndarray:
    return np.array(ints, dtype=np.float64)


@pytest.mark.parametrize("qset", FREE_SETS, ids=set_id)
@given(ints=INTS, k=st.sampled_from([-1074, -1070, -1060, -1022, -1000, -600, -60, 0, 60, 600,
                                      1000, 1015, 1019]))
@example(ints=[1, 1, 1], k=-1074)  # every entry the smallest subnormal
@example(ints=[15, -15, 7], k=1019)  # entries near the largest float
def test_free_scale_is_covariant_over_the_whole_float64_range(qset, ints, k):
    w = _unit(ints)
    ref = project(w, qset)
    x = np.ldexp(w, k)  # exact: |ints| <= 15 < 2^4 and 4 + 1019 <= 1023
    assert np.array_equal(np.ldexp(x, -k), w)
    try:
        r = project(x, qset)
    except ValueError as exc:  # only when the scale or q leave the float64 range
        assert "exceeds" in str(exc)
        with np.errstate(over="ignore"):
            big = np.ldexp(ref.scale, k) > F64.max or np.max(np.abs(np.ldexp(ref.q, k))) > F64.max
        assert big
        return
    np.testing.assert_array_equal(r.codes, ref.codes)
    assert r.scale == np.ldexp(ref.scale, k)
    np.testing.assert_array_equal(r.q, np.ldexp(ref.q, k))
    with np.errstate(over="ignore", under="ignore"):
        expect = np.ldexp(ref.dist2, 2 * k)
    assert r.dist2 == expect or abs(r.dist2 - expect) <= 1e-12 * expect + F64.smallest_subnormal


@pytest.mark.parametrize("qset", [s for s in ALL_SETS if not s.is_cone], ids=set_id)
@given(ints=INTS, k=st.sampled_from([-1074, -1040, -300, 0, 300, 1000]))
def test_fixed_scale_extremes_keep_the_tie_rule(qset, ints, k):
    """Fixed scale: huge w/α saturates to the outermost level of its sign, tiny w/α goes to
    the level nearest 0 of its sign; dist2 never overflows before the final rounding."""
    x = np.ldexp(_unit(ints), k)
    r = project(x, qset)
    lv = qset.levels
    y = x / qset.scale
    with np.errstate(over="ignore"):
        nearest = np.argmin(np.abs(y[:, None] - lv[None, :]), axis=1)
    far = np.abs(y) > 2 * np.max(np.abs(lv))
    np.testing.assert_array_equal(r.codes[far], np.where(y[far] > 0, len(lv) - 1, 0))
    assert np.all(np.abs(y[~far] - lv[r.codes[~far]]) <= np.abs(y[~far] - lv[nearest[~far]]))
    assert np.isfinite(r.dist2) or np.sum(np.ldexp(x, -1000) ** 2) > np.ldexp(F64.max, -2000)


@pytest.mark.parametrize("qset", [Ternary(), Uniform(3), Symmetric(2), Grid([-1, 2], None)],
                         ids=set_id)
@given(ints=INTS, k=st.sampled_from([-149, -140, -126, -60, 0, 60, 120, 123]))
def test_float32_range(qset, ints, k):
    """float32 input from its smallest subnormal (2^-149) to near its largest float: codes as at
    unit scale; q is the float32 rounding of the float64 point (or a ValueError saying q is out
    of float32 range)."""
    w = _unit(ints)
    ref = project(w, qset)
    x = np.ldexp(w, k).astype(np.float32)
    assert np.array_equal(np.ldexp(x.astype(np.float64), -k), w)
    try:
        r = project(x, qset)
    except ValueError as exc:
        assert "exceeds the range of float32" in str(exc)
        assert np.max(np.abs(np.ldexp(ref.q, k))) > np.finfo(np.float32).max
        return
    assert r.q.dtype == np.float32
    np.testing.assert_array_equal(r.codes, ref.codes)
    np.testing.assert_array_equal(r.q, np.ldexp(ref.q, k).astype(np.float32))


@pytest.mark.parametrize("qset", [s for s in FREE_SETS if max_n(s) >= 3], ids=set_id)
@given(ints=st.lists(st.integers(-7, 7), min_size=1, max_size=3),
       k=st.sampled_from([-1074, -1060, 1015]))
def test_extremes_equal_brute_force_at_unit_scale(qset, ints, k):
    """The distance at 2^k w is 4^k times the brute-force distance of w (every code vector and
    its best scale enumerated at unit scale, where nothing over- or underflows), rounded to
    float64 (so 0 when 4^k times it underflows)."""
    w = _unit(ints)
    try:
        r = project(np.ldexp(w, k), qset)
    except ValueError:
        assert qset.levels[qset.levels > 0].min(initial=1.0) < 1 and k > 1000
        return
    with np.errstate(under="ignore", over="ignore"):
        expect = np.ldexp(brute_force(w, qset), 2 * k)  # inf beyond the float64 range
        tol = 1e-12 * np.ldexp(np.sum(w * w), 2 * k) + F64.smallest_subnormal
    assert r.dist2 == expect or abs(r.dist2 - expect) <= tol


def test_subnormal_inputs_are_not_zeroed():
    """Issue 11: subnormal inputs used to project to all zeros (S^2/t underflowed)."""
    tiny = F64.smallest_subnormal
    r = project(np.array([3.0, -3.0, 1.0]) * tiny, Ternary())
    assert r.codes.tolist() == [2, 0, 1] and r.scale == 3 * tiny
    assert r.q.tolist() == [3 * tiny, -3 * tiny, 0.0]


def test_values_near_the_largest_float():
    big = np.array([1.7e308, -1.6e308, 1e308, 0.0])
    r = project(big, Ternary())
    assert np.all(np.isfinite(r.q)) and r.codes.tolist() == [2, 0, 2, 1]
    assert r.scale == pytest.approx(1.7e308 / 3 + 1.6e308 / 3 + 1e308 / 3, rel=1e-15)
    assert r.dist2 == np.inf  # the true distance, ~7e614, is beyond the float64 range
    with pytest.raises(ValueError, match="exceeds the float64 range"):
        project(np.array([1.7e308]), Symmetric(1))  # alpha = 2 * 1.7e308


def test_grid_levels_near_the_largest_float():
    g = Grid([1e308, 1.7e308])
    assert level_midpoints(g.levels)[0] == 1.35e308 and np.isfinite(g.midpoints).all()
    r = project(np.array([1.2e308, 1.4e308, 1.7e308, -1e308]), g)
    assert r.codes.tolist() == [0, 1, 1, 0]
    free = project(np.array([0.5, 1.0, 3.0]), Grid([1e308, 1.7e308], None))
    same = project(np.array([0.5, 1.0, 3.0]), Grid([1e308 / 2.0**1023, 1.7e308 / 2.0**1023], None))
    np.testing.assert_array_equal(free.codes, same.codes)
    np.testing.assert_allclose(free.q, same.q, rtol=1e-15)
    with pytest.raises(ValueError, match="scale \\* levels must be finite"):
        Grid([1e308, 1.7e308], scale=2.0)
    with pytest.raises(ValueError, match="scale \\* levels must be finite"):
        Uniform(4, scale=1e308)


@pytest.mark.parametrize("a,b", [(1e308, 1.7e308), (-1.7e308, 1.7e308), (-1.7e308, -1e308),
                                 (1.0, 2.0), (F64.max, F64.max * 0 + F64.max)])
def test_level_midpoints_are_finite_and_between(a, b):
    if a == b:
        b = np.nextafter(a, 0.0)
        a, b = b, a
    m = level_midpoints(np.array([a, b]))[0]
    assert np.isfinite(m) and a <= m <= b
