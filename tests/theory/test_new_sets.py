"""theory: the int:B, nf4 and uint:B (affine) sets and group-wise granularity, against brute force.

The affine brute force enumerates every (z, l) pair, z in {0..2^b-1}, l in {0..2^b-1}^n, with the
least-squares scale alpha = <w, l - z>_+ / ||l - z||^2: it shares no code with theory.affine (no
sweep, no union argument). Group-wise results are compared block by block with the brute force of
each block. Tolerance as in test_projection.py: 1e-12 (||w||^2 + ||q||^2).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.theory.strategies import any_weights, brute_force
from theory import project
from theory.approximate import absmax
from theory.groups import expand, n_blocks
from theory.sets import NF4, NF4_LEVELS, Affine, Int, parse_qset

TINY = 1e-300


def tol(w: np.ndarray, q: np.ndarray) -> float:
    return 1e-12 * (float(np.sum(np.asarray(w, float) ** 2)) + float(np.sum(
        np.asarray(q, float) ** 2)) + TINY)


def close(dist2: float, w: np.ndarray, q: np.ndarray, brute) -> bool:
    """|dist2 - brute(w)| <= tol where max|w| is an ordinary magnitude. At the float range's
    ends (entries near 1.7e308, where dist2 may exceed the range and is then inf, or subnormal,
    where it underflows) the brute force cannot run: the callers check instead that the exact
    power-of-two scaling commutes with the projection (project(w 2^-e) has the same codes) and
    judge that scaled problem."""
    w = np.asarray(w, dtype=np.float64)
    top = float(np.max(np.abs(w)))
    if top != 0 and not 1e-150 < top < 1e150:
        return True
    return abs(dist2 - brute(w)) <= tol(w, q)


def affine_brute(w: np.ndarray, bits: int) -> float:
    """min over z and l of ||w - alpha (l - z)||^2 (w 1-D, tiny)."""
    w = np.asarray(w, dtype=np.float64).ravel()
    k = 2**bits
    ls = np.array(list(itertools.product(range(k), repeat=w.size)), dtype=np.float64)
    best = np.inf
    for z in range(k):
        Z = ls - z
        s1, s2 = Z @ w, np.einsum("ij,ij->i", Z, Z)
        a = np.where(s2 > 0, np.maximum(s1, 0) / np.where(s2 > 0, s2, 1), 0.0)
        r = w[None] - a[:, None] * Z
        best = min(best, float(np.min(np.einsum("ij,ij->i", r, r))))
    return best


EDGE = [
    np.array([0.0]), np.array([0.0, 0.0, 0.0]), np.array([1.0, 1.0, 1.0]),
    np.array([-1.0, -1.0, -1.0]), np.array([-2.5]), np.array([0.5, 1.5, -0.5]),
    np.array([1.0, 2.0, 3.0]), np.array([-1.0, 1.0, -1.0]), np.array([3.0, 1.0, 0.0]),
    np.array([1e-8, -1e8, 3e3]), np.array([2.0**-1074, -2.0**-1073, 0.0]),
    np.array([1.7e308, -1.7e308, 1e308]),
]


def test_specs_round_trip_and_levels():
    assert Int(4).unit_levels == tuple(float(k) for k in range(-8, 8))
    assert Int(8).n_levels == 256 and Int(2).unit_levels == (-2.0, -1.0, 0.0, 1.0)
    assert NF4().unit_levels == NF4_LEVELS and len(NF4_LEVELS) == 16
    assert NF4_LEVELS[0] == -1.0 and NF4_LEVELS[7] == 0.0 and NF4_LEVELS[-1] == 1.0
    assert all(np.float32(v) == v for v in NF4_LEVELS)  # float32 values, as bitsandbytes
    for spec in ("int:4", "int:8@0.5", "nf4", "nf4@2.0", "uint:4", "uint:8", "uint:1"):
        assert parse_qset(spec).spec == spec
        assert parse_qset(parse_qset(spec).spec) == parse_qset(spec)
    for bad in ("uint:4@0.5", "uint:9", "uint:0", "int:1", "nf4:3", "int:x"):
        with pytest.raises(ValueError):
            parse_qset(bad)
    with pytest.raises(TypeError, match="zero point"):
        _ = Affine(4).levels
    assert Affine(3).shifted(2).unit_levels == tuple(float(k) for k in range(-2, 6))


@pytest.mark.parametrize("qset", [Int(2), Int(3), NF4()], ids=str)
@pytest.mark.parametrize("w", EDGE, ids=lambda w: str(w.tolist()))
def test_int_nf4_equal_brute_force_on_edge_cases(qset, w):
    r = project(w, qset)
    assert close(r.dist2, w, r.q, lambda x: brute_force(x, qset))
    e = int(np.frexp(np.max(np.abs(w)))[1])
    rs = project(np.ldexp(w, -e), qset)  # scale covariance: the same codes at every magnitude
    np.testing.assert_array_equal(rs.codes, r.codes)
    assert close(rs.dist2, np.ldexp(w, -e), rs.q, lambda x: brute_force(x, qset))


@settings(max_examples=40, deadline=None)
@given(st.sampled_from([Int(2), Int(3), Int(4), NF4()]), any_weights(1, 3))
def test_int_nf4_equal_brute_force(qset, w):
    r = project(w, qset)
    assert abs(r.dist2 - brute_force(w, qset)) <= tol(w, r.q)


def check_affine(w, r, bits):
    assert r.codes.min() >= 0 and r.codes.max() < 2**bits
    z = np.asarray(r.zero_point)
    assert np.all((z >= 0) & (z < 2**bits)) and np.all(np.asarray(r.scale) >= 0)


@pytest.mark.parametrize("bits", [1, 2, 3])
@pytest.mark.parametrize("w", EDGE, ids=lambda w: str(w.tolist()))
def test_affine_equals_brute_force_on_edge_cases(bits, w):
    r = project(w, Affine(bits))
    check_affine(w, r, bits)
    np.testing.assert_array_equal(r.q, r.scale * (r.codes - r.zero_point))
    assert close(r.dist2, w, r.q, lambda x: affine_brute(x, bits))
    e = int(np.frexp(np.max(np.abs(w)))[1])
    rs = project(np.ldexp(w, -e), Affine(bits))
    np.testing.assert_array_equal(rs.codes, r.codes)
    assert np.all(rs.zero_point == r.zero_point)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from([1, 2, 3]), any_weights(1, 4))
def test_affine_equals_brute_force(bits, w):
    if bits == 3:
        w = w[:3]
    r = project(w, Affine(bits))
    assert abs(r.dist2 - affine_brute(w, bits)) <= tol(w, r.q)


def test_affine_represents_constant_blocks_exactly():
    for c in (3.0, -3.0, 0.0):
        r = project(np.full(5, c), Affine(4))
        assert r.dist2 == 0.0 and np.all(r.q == c)
        assert r.zero_point == (0 if c >= 0 else 1)  # the first z that represents c
    for c in (1e-300, -1e300, 0.1, -7.3):  # represented up to the rounding of the scale
        r = project(np.full(5, c), Affine(4))
        np.testing.assert_allclose(r.q, c, rtol=4e-16)
    # int:4 is affine with z = 8: never better than the best zero point
    w = np.random.default_rng(0).standard_normal(50)
    assert project(w, Affine(4)).dist2 <= project(w, Int(4)).dist2 * (1 + 1e-12)


def block_brute(w, qset):
    return affine_brute(w, qset.bits) if isinstance(qset, Affine) else brute_force(w, qset)


@pytest.mark.parametrize("qset", [Int(2), NF4(), Affine(2), parse_qset("ternary")], ids=str)
@pytest.mark.parametrize("g", [1, 2, 3, 7])
def test_group_blocks_equal_brute_force_per_block(qset, g):
    """Rows of 7 entries (a tail block unless g divides 7), ties, zero and equal blocks."""
    w = np.array([[0.5, 1.5, 1.5, 0.0, 0.0, 0.0, -2.0],
                  [1.0, 1.0, 1.0, 1.0, -1.0, -1.0, -1.0],
                  [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    w = np.concatenate([w, np.random.default_rng(g).standard_normal((2, 7))])
    r = project(w, qset, axis=0, group_size=g)
    nb = n_blocks(7, g)
    assert np.shape(r.scale) == (5, nb) and np.shape(r.dist2) == (5, nb)
    levels = (r.codes - expand(r.zero_point, w.shape, 0, g) if isinstance(qset, Affine)
              else qset.levels[r.codes])
    np.testing.assert_array_equal(r.q, expand(r.scale, w.shape, 0, g) * levels)
    for c in range(5):
        for b in range(nb):
            blk = w[c, b * g:(b + 1) * g]
            qb = r.q[c, b * g:(b + 1) * g]
            if qset.n_levels ** blk.size <= 70_000:  # brute force affordable (not NF4 at g = 7)
                assert abs(r.dist2[c, b] - block_brute(blk, qset)) <= tol(blk, qb)
            one = project(blk, qset)  # the same as projecting the block alone
            np.testing.assert_array_equal(one.q, r.q[c, b * g:(b + 1) * g])


def test_group_layout_axis_none_and_nd():
    rng = np.random.default_rng(3)
    w = rng.standard_normal((4, 3, 5))  # axis 0: rows of 15, g = 4: blocks 4,4,4,3
    r = project(w, Int(3), axis=0, group_size=4)
    rows = w.reshape(4, 15)
    for c in range(4):
        for b in range(4):
            one = project(rows[c, 4 * b:4 * b + 4], Int(3))
            assert r.scale[c, b] == one.scale
    r1 = project(w, NF4(), group_size=7)  # axis None: the flattened tensor, 60 = 8*7 + 4
    assert r1.scale.shape == (9,)
    np.testing.assert_array_equal(r1.q.reshape(-1)[56:], project(w.reshape(-1)[56:], NF4()).q)
    # g >= n: per row; g = 1: every entry exact (free scale, one non-zero level suffices)
    np.testing.assert_array_equal(project(w, NF4(), 0, 15).q, project(w, NF4(), 0).q)
    np.testing.assert_allclose(project(w, NF4(), 0, 1).q, w, rtol=4e-16, atol=0)  # one rounding
    with pytest.raises(ValueError, match="group_size"):
        project(w, NF4(), 0, 0)
    with pytest.raises(TypeError, match="group_size"):
        project(w, NF4(), 0, 2.5)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_group_float_range_ends(dtype):
    fi = np.finfo(dtype)
    w = np.array([fi.max * 0.5, -fi.max * 0.25, fi.tiny, -fi.tiny * 2,
                  fi.smallest_subnormal, 0.0, 1.0, -1.0], dtype=dtype)
    for qset in (Int(2), NF4(), Affine(2)):
        def bf(x, qset=qset):
            return block_brute(x, qset)

        r = project(w, qset, group_size=2)
        assert r.q.dtype == dtype and np.all(np.isfinite(r.q))
        for b in range(4):
            blk = w[2 * b:2 * b + 2].astype(np.float64)
            qb = r.q[2 * b:2 * b + 2].astype(np.float64)
            # dist2 is the float64 point's distance; q was rounded to dtype afterwards
            assert close(r.dist2[b], blk, qb, bf)
            if np.any(blk):
                e = int(np.frexp(np.max(np.abs(blk)))[1])
                rs = project(np.ldexp(blk, -e), qset)
                np.testing.assert_array_equal(rs.codes, r.codes[2 * b:2 * b + 2])
                assert close(rs.dist2, np.ldexp(blk, -e), rs.q, bf)


def test_absmax_is_feasible_and_never_better():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((8, 256))
    for qset in (NF4(), Int(4), Int(8)):
        a = absmax(w, qset, axis=0, group_size=64)
        e = project(w, qset, axis=0, group_size=64)
        assert a.scale.shape == e.scale.shape == (8, 4)
        np.testing.assert_allclose(a.q, expand(a.scale, w.shape, 0, 64) * qset.levels[a.codes])
        assert np.all(a.dist2 >= e.dist2 * (1 - 1e-12))
        assert np.all(np.abs(a.q).max(axis=1) <= np.abs(w).max(axis=1) * (1 + 1e-15))
    # NF4 absmax: the block maximum is represented exactly (the level +-1)
    a = absmax(w, NF4(), group_size=64)
    blocks = w.reshape(-1, 64)
    i = np.argmax(np.abs(blocks), axis=1)
    np.testing.assert_array_equal(a.q.reshape(-1, 64)[np.arange(len(i)), i],
                                  blocks[np.arange(len(i)), i])
    with pytest.raises(ValueError, match="free-scale"):
        absmax(w, Affine(4))
