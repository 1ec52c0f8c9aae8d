"""Engine group-wise and affine projection (qopt.projection.blocks) against theory/ and itself.

Tolerance: dist2 per block within 1e-12 (||w_B||^2 + ||q_B||^2) of theory's (float64 input; the
two implementations sum in different orders) and within 1e-5 relative for float32 (float32
codes and refit). Where the distances agree, the affine zero points may still differ only on a
tie (two cones at the same distance), which the tests allow only with equal distances.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qopt.projection import project, project_group
from qopt.projection.blocks import expand_blocks
from theory import project as tproject
from theory.sets import NF4, Affine, Int, Ternary, Uniform

SETS = [Int(2), Int(4), NF4(), Affine(2), Affine(4), Uniform(3), Ternary()]


def adversarial(rng: np.random.Generator) -> np.ndarray:
    """Rows of 13 with ties (dyadic values), an all-equal row, a zero row, wide magnitudes."""
    return np.stack([
        np.array([0.5, 1.5, 1.5, 0.0, 0.0, 0.0, -2.0, 0.25, -0.25, 1.0, 1.0, 3.0, -3.0]),
        np.full(13, -0.75), np.zeros(13),
        rng.standard_normal(13) * 10.0 ** rng.integers(-6, 6, 13),
        rng.standard_normal(13),
    ])


@pytest.mark.parametrize("qset", SETS, ids=str)
@pytest.mark.parametrize("g", [None, 1, 4, 5, 13, 64])
def test_blocks_match_theory(qset, g):
    w = adversarial(np.random.default_rng(0))
    r = project(torch.from_numpy(w), qset, axis=0, group_size=g)
    t = tproject(w, qset, axis=0, group_size=g)
    assert tuple(r.scale.shape) == np.shape(t.scale)
    d, td = r.dist2.numpy(), np.asarray(t.dist2)
    rows = w.reshape(5, -1)
    norm = np.sum(rows**2, axis=1, keepdims=d.ndim == 2) + 1e-300
    assert np.all(np.abs(d - td) <= 1e-12 * (norm + norm))
    if isinstance(qset, Affine):
        levels = r.codes.double() - expand_blocks(r.zero_point, w.shape, 0, g).double()
        same = r.zero_point.numpy() == np.asarray(t.zero_point)
        assert np.all(same | (np.abs(d - td) <= 1e-12 * norm))
    else:
        levels = torch.tensor(qset.levels)[r.codes]
    q = expand_blocks(r.scale, w.shape, 0, g) * levels
    assert torch.equal(q, r.q)  # q = scale * (levels[codes] - z), bitwise


@pytest.mark.parametrize("qset", [Int(4), NF4(), Affine(4)], ids=str)
def test_float32_blocks_near_theory_and_group_is_bitwise_project(qset):
    rng = np.random.default_rng(1)
    ws = [torch.from_numpy(rng.standard_normal(s).astype(np.float32)) for s in
          [(8, 200), (3, 64), (5, 7, 3)]]
    res = project_group(ws, qset, 0, group_size=32)
    for w, a, c in zip(ws, res.scales, res.codes):
        one = project(w, qset, 0, group_size=32)
        assert torch.equal(one.scale, a) and torch.equal(one.codes, c.long())
        t = tproject(w.numpy().astype(np.float64), qset, 0, 32)
        rel = np.abs(one.dist2.numpy() - t.dist2) / (np.asarray(t.dist2) + 1e-30)
        assert np.quantile(rel, 0.5) < 1e-5  # same optimum up to float32 rounding
        assert np.all(one.dist2.numpy() <= t.dist2 * (1 + 1e-4) + 1e-9)
    # hints change nothing
    res2 = project_group(ws, qset, 0, group_size=32, hints=res.scales)
    assert all(torch.equal(a, b) for a, b in zip(res.scales, res2.scales))


def test_layouts_and_errors():
    w = torch.randn(4, 3, 5, dtype=torch.float64)
    r = project(w, NF4(), axis=None, group_size=7)  # 60 entries: 8 blocks of 7 and a tail of 4
    assert r.scale.shape == (9,)
    t = tproject(w.numpy(), NF4(), None, 7)
    np.testing.assert_allclose(r.q.numpy(), t.q, rtol=0, atol=1e-15)
    r = project(w, Affine(3), axis=1)  # affine without blocks: per slice, (C,)
    assert r.scale.shape == (3,) and r.zero_point.shape == (3,)
    r = project(w, Affine(3))
    assert r.scale.dim() == 0 and r.zero_point.dim() == 0
    with pytest.raises(ValueError, match="group_size"):
        project(w, NF4(), 0, group_size=0)
    with pytest.raises(ValueError, match="finite"):
        project(torch.tensor([1.0, float("nan")]), NF4(), group_size=1)
    for dt in (torch.float16, torch.bfloat16):
        x = torch.randn(6, 40).to(dt)
        r = project(x, Affine(4), 0, group_size=16)
        assert r.q.dtype == dt and r.scale.dtype == torch.float32
