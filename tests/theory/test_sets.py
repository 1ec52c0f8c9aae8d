"""Quantization sets: levels, derived properties, spec round trip, hashing and immutability."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.theory.strategies import ALL_SETS, set_id
from theory import MAX_BITS, Binary, Grid, Symmetric, Ternary, Uniform, parse_qset


def test_levels_of_each_kind():
    assert Binary().unit_levels == (-1.0, 1.0)
    assert Ternary().unit_levels == (-1.0, 0.0, 1.0)
    assert Uniform(2).unit_levels == (-1.0, 0.0, 1.0)
    assert Uniform(4).unit_levels == tuple(float(k) for k in range(-7, 8))
    assert Symmetric(1).unit_levels == (-0.5, 0.5)
    assert Symmetric(2).unit_levels == (-1.5, -0.5, 0.5, 1.5)
    assert Symmetric(3).n_levels == 8 and Uniform(MAX_BITS).K == 2 ** (MAX_BITS - 1) - 1
    assert Grid([1, 2, 4]).unit_levels == (1.0, 2.0, 4.0)
    np.testing.assert_array_equal(Uniform(3).midpoints, np.arange(-3, 3) + 0.5)


@pytest.mark.parametrize("qset", ALL_SETS, ids=set_id)
def test_derived_properties(qset):
    lv = qset.levels
    assert lv.dtype == np.float64 and np.all(np.diff(lv) > 0)
    assert qset.is_cone == (qset.scale is None)
    assert qset.is_symmetric == bool(np.array_equal(lv, -lv[::-1]))
    assert qset.has_zero == bool(np.any(lv == 0))
    np.testing.assert_array_equal(qset.midpoints, (lv[1:] + lv[:-1]) / 2)
    lv[0] = 1e9  # levels is a fresh copy: the set is not changed through it
    assert qset.levels[0] != 1e9


@pytest.mark.parametrize("qset", ALL_SETS, ids=set_id)
def test_spec_round_trip_and_hash(qset):
    back = parse_qset(qset.spec)
    assert back == qset and hash(back) == hash(qset) and str(qset) == qset.spec
    assert {qset: 1}[back] == 1


@pytest.mark.parametrize("qset", ALL_SETS, ids=set_id)
def test_frozen(qset):
    with pytest.raises(dataclasses.FrozenInstanceError):
        qset.scale = 2.0


def test_parse_examples():
    assert parse_qset("binary") == Binary()
    assert parse_qset(" Uniform:4@0.05 ") == Uniform(4, scale=0.05)
    assert parse_qset("symmetric:2") == Symmetric(2)
    assert parse_qset("grid:-1,0,1") == Grid([-1, 0, 1], scale=1.0)
    assert parse_qset("grid:-1,0,1@0.5") == Grid([-1, 0, 1], scale=0.5)
    assert parse_qset("scaled:-4,-2,-1,0,1,2,4") == Grid([-4, -2, -1, 0, 1, 2, 4], scale=None)
    assert Uniform(4) != Uniform(4, scale=1.0) and Grid([-1, 1]) != Binary(scale=1.0)


@given(
    levels=st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=12, unique=True),
    scale=st.one_of(st.none(), st.floats(1e-6, 1e6)),
)
def test_grid_spec_round_trip(levels, scale):
    levels = sorted(levels)
    if scale is None and not any(v != 0 for v in levels):
        scale = 1.0
    g = Grid(levels, scale=scale)
    assert parse_qset(g.spec) == g
    assert Grid(np.array(levels), scale=scale) == g  # ndarray and list give the same set


@given(bits=st.integers(1, MAX_BITS), scale=st.one_of(st.none(), st.floats(1e-6, 1e6)))
def test_bit_sets_round_trip(bits, scale):
    s = Symmetric(bits, scale)
    assert parse_qset(s.spec) == s and s.n_levels == 2**bits
    if bits >= 2:
        u = Uniform(bits, scale)
        assert parse_qset(u.spec) == u and u.n_levels == 2**bits - 1
