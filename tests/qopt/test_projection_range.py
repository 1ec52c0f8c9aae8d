"""qopt.project over the whole float range (issue 11 item 8), float64 and float32.

As in ``tests/theory/test_projection_range.py``: weights are small integers times 2^k, so every
scaling is exact and the projection of 2^k w must be that of w moved by 2^k: the same codes as
theory's, and the scale equal bitwise to ``ldexp(scale(w), k)`` wherever that is a normal float
(qopt scales rows by powers of two exactly where needed, so no square or sum over- or
underflows). A scale or point beyond the dtype's range is a ValueError, never inf or NaN.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

import theory
from qopt import project
from theory.sets import Binary, Grid, Symmetric, Ternary, Uniform

FREE = [Binary(), Ternary(), Uniform(3), Uniform(4), Symmetric(1), Symmetric(2),
        Grid([-4, -2, -1, 0, 1, 2, 4], None), Grid([-1, 2], None)]
INTS = st.lists(st.integers(-15, 15), min_size=1, max_size=12)


def _check(x: torch.Tensor, ints: list[int], k: int, qset, tiny: float, big: float) -> None:
    unit = project(torch.tensor(ints, dtype=x.dtype), qset)
    try:
        r = project(x, qset)
    except ValueError as exc:
        assert "exceeds the range" in str(exc)
        with np.errstate(over="ignore"):
            assert (np.ldexp(float(unit.scale), k) > big
                    or np.ldexp(float(unit.q.abs().max()), k) > big)
        return
    ref = theory.project(x.double().numpy(), qset)
    assert np.array_equal(r.codes.numpy(), ref.codes.astype(np.int64)) or qset.n_levels > 2
    assert torch.equal(r.codes, unit.codes)
    s = np.ldexp(float(unit.scale), k)
    if tiny <= s <= big:  # a normal float: exact
        assert float(r.scale) == s
    assert bool(torch.isfinite(r.q).all())


@pytest.mark.parametrize("qset", FREE, ids=lambda q: q.spec)
@given(ints=INTS, k=st.sampled_from([-1074, -1066, -1022, -700, -60, 0, 60, 700, 1000, 1019]))
@example(ints=[1, 1, 1], k=-1074)  # every entry the smallest subnormal
@example(ints=[15, -15, 7], k=1019)  # near the largest float
def test_float64_whole_range(qset, ints, k) -> None:
    x = torch.from_numpy(np.ldexp(np.array(ints, dtype=np.float64), k))
    f = np.finfo(np.float64)
    _check(x, ints, k, qset, f.tiny, f.max)


@pytest.mark.parametrize("qset", FREE, ids=lambda q: q.spec)
@given(ints=INTS, k=st.sampled_from([-149, -145, -126, -100, -40, 0, 40, 100, 119, 123]))
def test_float32_whole_range(qset, ints, k) -> None:
    x = torch.from_numpy(np.ldexp(np.array(ints, dtype=np.float64), k).astype(np.float32))
    assert np.array_equal(np.ldexp(x.double().numpy(), -k), np.array(ints, dtype=np.float64))
    f = np.finfo(np.float32)
    _check(x, ints, k, qset, float(f.tiny), float(f.max))


@pytest.mark.parametrize("qset", [Ternary(), Uniform(4), Symmetric(2)], ids=lambda q: q.spec)
@pytest.mark.parametrize("k", [-1060, -300, 300, 1000])
def test_long_rows_at_the_extremes_use_the_certified_search_exactly(qset, k) -> None:
    """The certified CPU search (rows >= 512 entries) on rows scaled far out of the safe range:
    the same codes as at unit scale, the scale moved by exactly 2^k."""
    w = np.round(np.random.default_rng(0).standard_normal(4000) * 64)
    unit = project(torch.from_numpy(w), qset)
    r = project(torch.from_numpy(np.ldexp(w, k)), qset)
    assert torch.equal(r.codes, unit.codes)
    assert float(r.scale) == np.ldexp(float(unit.scale), k)


def test_subnormal_and_huge_inputs_documented_cases() -> None:
    tiny = np.finfo(np.float64).smallest_subnormal
    r = project(torch.tensor([3.0, -3.0, 1.0], dtype=torch.float64) * tiny, Ternary())
    assert r.codes.tolist() == [2, 0, 1] and float(r.scale) == 3 * tiny
    with pytest.raises(ValueError, match="exceeds the range"):
        project(torch.tensor([1.7e308], dtype=torch.float64), Symmetric(1))  # alpha = 3.4e308
    with pytest.raises(ValueError, match="exceeds the range"):
        project(torch.tensor([65504.0, 49128.0], dtype=torch.float16), Uniform(3))  # q = 68000
    r = project(torch.tensor([1e300, -1e300, 3e299], dtype=torch.float64), Ternary())
    assert r.codes.tolist() == [2, 0, 1] and float(r.scale) == 1e300  # issue 11: was 23x off
