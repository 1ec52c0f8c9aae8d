"""qopt.project (torch) against theory.project (numpy): the same exact minimiser.

Tolerances: float64 inputs are computed in float64 by both sides with sums in a different order
(numpy pairwise vs torch vectorised), so the scale may differ in the last bits (rel 1e-12 covers
~1e4 ulp); the *codes* must be identical except where w/α lies within 1e-9 (relative) of a decision
midpoint, i.e. a tie decided by the last bit of α, and the squared distances must agree to 1e-12
relative to ||w||^2 (both are minimisers). float32/bf16/fp16 inputs are computed in float32: the
distance must agree with the float64 reference to 1e-4 relative (float32 cumulative sums over up to
~100 entries), never be smaller than the true minimum beyond rounding.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import theory
from qopt import project
from theory.sets import Binary, Grid, Symmetric, Ternary, Uniform

SETS = [Binary(), Ternary(), Uniform(2), Uniform(3), Uniform(4), Uniform(5), Symmetric(1),
        Symmetric(2), Symmetric(3), Grid([-4, -2, -1, 0, 1, 2, 4], None), Grid([-1, 0, 2, 5], None),
        Grid([-3, -1, 2], None), Grid([0.5], None), Grid([-1, 0, 1]), Grid([-2, 0.5, 3], 0.25),
        Uniform(4, 0.1), Binary(0.5), Symmetric(2, 2.0)]

ELEM = st.one_of(
    st.sampled_from([0.0, -0.0, 0.5, -0.5, 1.0, -1.0, 1.5, -1.5, 2.0, 3.0, -2.5, 0.25, 7.5]),
    st.floats(-10, 10, allow_nan=False, allow_subnormal=False),
    st.floats(-1e6, 1e6, allow_nan=False, allow_subnormal=False),
    st.floats(-1e-6, 1e-6, allow_nan=False, allow_subnormal=False),
)


def arrays(max_side: int = 6) -> st.SearchStrategy[np.ndarray]:
    shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=max_side)
    return hnp.arrays(np.float64, shapes, elements=ELEM)


def _near_midpoint(w: np.ndarray, scale: np.ndarray, qset, axis) -> np.ndarray:
    """Entries whose w/α is within 1e-9 (relative) of a midpoint: ties decided by α's last bit."""
    mids = qset.midpoints
    if mids.size == 0:
        return np.zeros(w.shape, dtype=bool)
    s = np.asarray(scale, dtype=np.float64)
    if axis is not None:
        shape = [1] * w.ndim
        shape[axis] = -1
        s = s.reshape(shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.where(s > 0, w / np.where(s > 0, s, 1.0), 0.0)
    d = np.min(np.abs(x[..., None] - mids), axis=-1)
    return d <= 1e-9 * np.maximum(1.0, np.abs(x))


def assert_same_minimiser(w: np.ndarray, qset, axis, got, ref) -> None:
    scale_ref = np.asarray(ref.scale, dtype=np.float64)
    scale = got.scale.double().cpu().numpy()
    assert scale.shape == scale_ref.shape
    codes = got.codes.cpu().numpy()
    assert codes.dtype == np.int64 and codes.shape == w.shape
    # both are minimisers: the squared distances agree (always checked)
    norm2 = float(np.sum(w * w))
    d_ref = np.sum(np.asarray(ref.dist2))
    d_got = float(got.dist2.double().sum())
    assert abs(d_got - d_ref) <= 1e-12 * max(norm2, d_ref, 1e-300) + 1e-300
    same = np.isclose(scale, scale_ref, rtol=1e-12, atol=0.0)
    if not np.all(same):
        # Only an exact tie of the objective between different scales is allowed here (e.g.
        # w = [1.9] on Symmetric(3): every level reaches distance 0); the tie rule "first from
        # α = +inf" is then decided by the last bit of equal values, on either side.
        s = scale if axis is None else scale.reshape([-1 if i == axis else 1
                                                      for i in range(w.ndim)])
        q_ours = s * qset.levels[codes]
        rows = np.sum((w - q_ours) ** 2, axis=None if axis is None else
                      tuple(i for i in range(w.ndim) if i != axis))
        d_row_ref = np.asarray(ref.dist2)
        scale2 = np.sum(w * w, axis=None if axis is None else
                        tuple(i for i in range(w.ndim) if i != axis))
        assert np.all(np.abs(rows - d_row_ref) <= 1e-12 * np.maximum(scale2, d_row_ref) + 1e-300)
        return
    amb = _near_midpoint(w, scale_ref, qset, axis)
    assert np.array_equal(codes[~amb], ref.codes[~amb]), "codes differ off ties"
    q = got.q.cpu().numpy()
    tol = 1e-12 * np.max(np.abs(w)) if w.size else 0.0
    assert np.all(np.abs(q - ref.q)[~amb] <= tol)


@given(w=arrays(), k=st.integers(0, len(SETS) - 1), ax=st.sampled_from([None, 0, -1]))
@example(w=np.array([0.0, -0.0, 0.0]), k=0, ax=None)  # Binary: 0 -> +alpha (alpha = 0)
@example(w=np.array([1.0, -1.0, 0.0, 3.0]), k=1, ax=None)  # ternary top-t
@example(w=np.array([0.5, -0.5, 1.5, -1.5, 2.5]), k=13, ax=None)  # fixed grid: exact midpoints
@example(w=np.array([[1.0, 3.0], [-2.0, 0.0]]), k=3, ax=0)
@example(w=np.array([1e-8, -1e6, 1.0, 3e5]), k=4, ax=None)  # wide range
@example(w=np.array([3.5e-294]), k=1, ax=None)  # S^2 underflows: z = 0 state wins the tie
@example(w=np.array([1.9]), k=8, ax=None)  # exact tie between all scales 1.9/|l|
@example(w=np.array([9.4e-07, -3.1e-07, 0.0]), k=14, ax=None)  # dist2 >> ||w||^2 (fixed scale)
def test_float64_same_minimiser_as_theory(w: np.ndarray, k: int, ax) -> None:
    qset = SETS[k]
    ax = None if ax is None else ax % w.ndim
    ref = theory.project(w, qset, ax)
    got = project(torch.from_numpy(w.copy()), qset, ax)
    assert got.q.dtype == torch.float64 and got.q.shape == w.shape
    assert_same_minimiser(w, qset, ax, got, ref)


@given(w=arrays(), k=st.integers(0, len(SETS) - 1))
def test_fixed_scale_tie_rule_exact(w: np.ndarray, k: int) -> None:
    """On a fixed-scale set every code is decided by exact comparisons: codes equal bitwise."""
    qset = Grid([-3, -1, 0, 0.5, 2], 0.5) if SETS[k].scale is None else SETS[k]
    ref = theory.project(w, qset)
    got = project(torch.from_numpy(w.copy()), qset)
    assert np.array_equal(got.codes.numpy(), ref.codes)
    assert np.array_equal(got.q.numpy(), ref.q)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@given(w=hnp.arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 30)),
                    elements=st.floats(-100, 100, allow_nan=False, allow_subnormal=False)),
       k=st.integers(0, len(SETS) - 1), per_row=st.booleans())
def test_low_precision_computed_in_float32(dtype: torch.dtype, w: np.ndarray, k: int,
                                           per_row: bool) -> None:
    qset, ax = SETS[k], (0 if per_row else None)
    wt = torch.from_numpy(w).to(dtype)
    wd = wt.double().numpy()  # the exact value the low-precision tensor holds
    got = project(wt, qset, ax)
    assert got.q.dtype == dtype and got.scale.dtype == torch.float32
    ref = theory.project(wd, qset, ax)
    d_ref = float(np.sum(np.asarray(ref.dist2)))
    # distance of our point (evaluated in float64 on the float32 q before the cast)
    z = torch.tensor(qset.levels)[got.codes]
    s = got.scale.double()
    q64 = (s.reshape(-1, *([1] * (w.ndim - 1))) if ax == 0 else s) * z
    d_got = float(((torch.from_numpy(wd) - q64) ** 2).sum())
    scale2 = max(float(np.sum(wd * wd)), d_ref) + 1e-30  # fixed scales: dist2 >> ||w||^2
    # theory's value is the minimum (up to the float32 rounding of a fixed scale, ~6e-8 rel)
    assert d_got >= d_ref - 1e-6 * scale2
    assert d_got <= d_ref + 1e-4 * scale2  # float32 rounding only


@pytest.mark.parametrize("qset", SETS, ids=str)
def test_result_lies_in_set_and_cone_orthogonality(qset) -> None:
    g = torch.Generator().manual_seed(0)
    w = torch.randn(5, 40, generator=g, dtype=torch.float64)
    r = project(w, qset, axis=0)
    lv = torch.tensor(qset.levels, dtype=torch.float64)
    assert torch.equal(r.q, r.scale[:, None] * lv[r.codes])
    if qset.is_cone:  # <w - P(w), P(w)> = 0 per slice: the scale is the least-squares fit
        orth = ((w - r.q) * r.q).sum(1)
        assert torch.all(orth.abs() <= 1e-12 * (w * w).sum(1))
    # no single-coordinate code change improves (local optimality at fixed scale)
    for j in range(len(qset.levels)):
        alt = r.scale[:, None] * lv[j]
        assert torch.all((w - alt) ** 2 >= (w - r.q) ** 2 - 1e-12)


def test_per_channel_matches_per_slice_calls() -> None:
    g = torch.Generator().manual_seed(1)
    w = torch.randn(4, 3, 5, generator=g, dtype=torch.float64)
    r = project(w, Uniform(3), axis=1)
    for c in range(3):
        rc = project(w[:, c, :].contiguous(), Uniform(3))
        assert torch.equal(r.q[:, c, :], rc.q) and torch.equal(r.codes[:, c, :], rc.codes)
        assert r.scale[c] == rc.scale


def test_docstring_example() -> None:
    r = project(torch.tensor([0.1, -2.0, 1.5, 0.2], dtype=torch.float64), Ternary())
    assert r.q.tolist() == [0.0, -1.75, 1.75, 0.0] and float(r.scale) == 1.75


@pytest.mark.parametrize("bad,exc,match", [
    (lambda: project(np.ones(3), Ternary()), TypeError, "w must be a torch.Tensor"),
    (lambda: project(torch.ones(3, dtype=torch.int64), Ternary()), TypeError, "floating"),
    (lambda: project(torch.ones(3), "ternary"), TypeError, "qset"),
    (lambda: project(torch.ones(0), Ternary()), ValueError, "non-empty"),
    (lambda: project(torch.tensor([1.0, float("nan")]), Ternary()), ValueError, "finite"),
    (lambda: project(torch.tensor([1.0, float("inf")]), Binary()), ValueError, "finite"),
    (lambda: project(torch.ones(2, 3), Ternary(), axis=2), ValueError, "axis"),
    (lambda: project(torch.ones(2, 3), Ternary(), axis=1.0), TypeError, "axis"),
    (lambda: Uniform(17), ValueError, "bits"),
    (lambda: Uniform(1), ValueError, "bits"),
])
def test_bad_input(bad, exc, match) -> None:
    with pytest.raises(exc, match=match):
        bad()


@pytest.mark.parametrize("qset", SETS, ids=lambda q: q.spec)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_nearest_codes_comparison_path_equals_binary_search(qset, dtype) -> None:
    """The CPU comparison count and the binary search give identical codes, ties included:
    inputs are every midpoint exactly, its float neighbours on both sides, ±0 and ±levels."""
    from qopt.projection import codes as C
    from qopt.projection import tables

    mids = tables(qset, dtype, "cpu")["mids"]
    lv = torch.tensor(qset.unit_levels, dtype=dtype)
    pts = torch.cat([mids[torch.isfinite(mids)], lv, torch.tensor([0.0, -0.0, 1e30, -1e30],
                                                                   dtype=dtype)])
    x = torch.cat([pts, torch.nextafter(pts, torch.full_like(pts, float("inf"))),
                   torch.nextafter(pts, torch.full_like(pts, -float("inf")))])
    fast = C.nearest_codes(x, mids)
    old, C.COMPARE_MAX = C.COMPARE_MAX, -1  # force the binary search
    try:
        slow = C.nearest_codes(x, mids)
    finally:
        C.COMPARE_MAX = old
    assert torch.equal(fast, slow)


PRUNED_SETS = [Uniform(2), Uniform(3), Uniform(4), Uniform(5), Symmetric(2), Symmetric(3),
               Grid([-4, -2, -1, 0, 1, 2, 4], None)]


def _adversarial(rng: np.random.Generator, kind: int, n: int) -> np.ndarray:
    if kind == 0:
        return rng.standard_normal(n)
    if kind == 1:  # heavy tails: a few huge entries, many tiny ones
        return rng.standard_cauchy(n)
    if kind == 2:  # many exact ties and zeros, values on level grids
        return rng.choice([0.0, 0.5, -0.5, 1.0, -1.5, 2.5, 3.0, -3.5], size=n)
    if kind == 3:  # one outlier
        w = 1e-3 * rng.standard_normal(n)
        w[0] = 50.0
        return w
    return np.repeat(rng.standard_normal(max(n // 50, 1)), 50)[:n]  # duplicated values


@pytest.mark.parametrize("qset", PRUNED_SETS, ids=lambda q: q.spec)
@pytest.mark.parametrize("kind", range(5))
def test_pruned_search_same_minimiser_with_any_hint(qset, kind) -> None:
    """The certified CPU search (larger inputs than the hypothesis test reaches, adversarial
    value patterns, several rows) returns theory's minimiser; a hint (exact, far off, zero, huge,
    NaN) only changes the work: scale and codes are the same bitwise. Tolerances: module
    docstring."""
    from qopt.projection import project_rows
    from qopt.projection.pruned import min_row
    from qopt.projection.tables import symmetric_events

    rng = np.random.default_rng(kind)
    n = min_row(len(symmetric_events(qset).mids)) + 1000  # rows that take the certified search
    w = np.stack([_adversarial(rng, kind, n) * s for s in (1.0, 1e-4, 1e3)])
    ref = theory.project(w, qset, axis=0)
    got = project(torch.from_numpy(w), qset, axis=0)
    assert_same_minimiser(w, qset, 0, got, ref)
    rows = torch.from_numpy(w)
    base_a, base_c = project_rows(rows, qset)
    exact = torch.from_numpy(np.asarray(ref.scale))
    for hint in (exact, 3.0 * exact, 1.0001 * exact, torch.zeros(3, dtype=torch.float64),
                 torch.full((3,), 1e30, dtype=torch.float64),
                 torch.full((3,), float("nan"), dtype=torch.float64)):
        a, c = project_rows(rows, qset, hint)
        assert torch.equal(a, base_a) and torch.equal(c, base_c)
