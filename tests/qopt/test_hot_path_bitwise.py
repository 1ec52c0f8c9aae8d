"""The optimizer's projection (the hot path, :mod:`qopt.optim._project`) is bitwise
:func:`qopt.project` on the same latent, for every set kind × axis × dtype (issue 22 item 3).

Shapes are chosen so that every path runs: a one-scale tensor of 70400 entries (the certified
search for every symmetric set, ternary's included: at least 65536), per-row rows of 8192 (the
certified search for multi-level sets) and of 64/1100 (the torch paths), and a tiny tensor. Both
the construction's projection and the projection after two SGD steps with random gradients are
compared, scales and points, with ``torch.equal`` (no tolerance: the promise is the same bits,
on the same machine and thread count).
"""

from __future__ import annotations

import pytest
import torch

import qopt
from theory.sets import Binary, Grid, Symmetric, Ternary, Uniform

SETS = [Binary(), Ternary(), Uniform(2), Uniform(4), Symmetric(2), Symmetric(4),
        Grid([-2.0, -1.0, 0.0, 1.0, 3.0], None), Grid([-1.0, 0.0, 1.0], 0.5), Binary(scale=0.3)]
DTYPES = [torch.float32, torch.float64, torch.bfloat16, torch.float16]
SHAPES = [(64, 1100), (8, 8192), (3, 5)]
AXES = [None, 0, 1]


def _check(opt: qopt.QuantOptimizer, params: list[torch.Tensor], qset, axis) -> None:
    for p in params:
        w = opt.latent[p]
        ref = qopt.project(w, qset, axis)
        assert torch.equal(p.detach(), ref.q), "forward point differs from qopt.project"
        e = next(e for e in opt._entries if e.param is p)
        assert torch.equal(e.scale, ref.scale.reshape(-1)), "kept scale differs"
        assert torch.equal(e.kept_q(), ref.q), "kept projection differs"


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("qset", SETS, ids=lambda s: s.spec)
def test_optimizer_projection_is_bitwise_project(qset, axis, dtype) -> None:
    g = torch.Generator().manual_seed(7)
    params = [torch.nn.Parameter((torch.randn(s, generator=g, dtype=torch.float64) * 0.05)
                                 .to(dtype)) for s in SHAPES]
    base = torch.optim.SGD([{"params": params, "qset": qset, "axis": axis}], lr=0.01)
    opt = qopt.QuantOptimizer(base, qopt.BinaryConnect())
    _check(opt, params, qset, axis)
    for _ in range(2):
        for p in params:
            p.grad = torch.randn(p.shape, generator=g, dtype=torch.float64).to(dtype)
        opt.step()
        _check(opt, params, qset, axis)


def test_binary_scale_is_torch_mean_of_abs() -> None:
    """The reported defect: the per-tensor binary scale of the optimizer was 2 ulp (and at 3e6
    entries 2e-4 relative) off ``torch.mean(w.abs())``; it is now that value exactly."""
    g = torch.Generator().manual_seed(0)
    p = torch.nn.Parameter(torch.randn(1 << 20, generator=g))
    opt = qopt.QuantOptimizer(torch.optim.SGD([{"params": [p], "qset": Binary()}], lr=0.1),
                              qopt.BinaryConnect())
    w = opt.latent[p]
    assert torch.equal(opt._entries[0].scale[0], torch.mean(w.abs()))
    assert torch.equal(qopt.project(w, Binary()).scale, torch.mean(w.abs()))


def test_binary_overflowing_sum_takes_the_scaled_path() -> None:
    """|w| summing past float32's range: the optimizer's closed form would give inf; it falls
    back to project_group's power-of-two scaled path, bitwise project's (finite)."""
    p = torch.nn.Parameter(torch.full((4096,), 3e38))
    opt = qopt.QuantOptimizer(torch.optim.SGD([{"params": [p], "qset": Binary()}], lr=0.1),
                              qopt.BinaryConnect())
    ref = qopt.project(opt.latent[p], Binary())
    assert torch.isfinite(ref.scale)
    assert torch.equal(p.detach(), ref.q) and torch.equal(opt._entries[0].scale[0], ref.scale)


@pytest.mark.parametrize("spec,n", [("uniform:4", 4608), ("symmetric:2", 65536),
                                    ("grid:-1.5,-0.25,0.25,1.5", 4096)])
def test_many_rows_equal_one_row_at_a_time(spec, n) -> None:
    """Past 16 rows the certified path's summary and values run without a per-row loop
    (per-entry factors): every row is still bitwise its own one-row projection."""
    from theory.sets import parse_qset

    qset = parse_qset(spec) if not spec.startswith("grid:") else Grid(
        [float(x) for x in spec[5:].split(",")], None)
    g = torch.Generator().manual_seed(3)
    w = torch.randn(20, n, generator=g) * 0.05
    w[4] *= 1e-20  # a row outside the safe range: the power-of-two scaled path
    ref = qopt.project(w, qset, 0)
    for r in range(w.shape[0]):
        one = qopt.project(w[r], qset)
        assert torch.equal(one.q, ref.q[r]) and torch.equal(one.scale, ref.scale[r])
