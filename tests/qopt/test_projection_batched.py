"""project_group (the hot path of contract C3): same bits as project() per tensor, exact against
theory on adversarial inputs and warm starts, hints that change nothing, kept codes, statistics.

Exactness against theory uses the tolerances of ``tests/qopt/test_projection.py`` (its module
docstring): float64 distances within 1e-12 relative of theory's, codes equal off ties decided by
the last bit of the scale.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import theory
from qopt.projection import ProjectionStats, Workspace, project, project_group
from tests.qopt.test_projection import SETS, assert_same_minimiser
from theory.sets import Binary, Grid, Symmetric, Ternary, Uniform

SHAPES = [(40, 30), (700,), (3, 5, 7), (2, 600)]


def _tensors(seed: int, dtype: torch.dtype, shapes=SHAPES) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(s, generator=g, dtype=torch.float64) * 10.0 ** (i - 1)).to(dtype)
            for i, s in enumerate(shapes)]


@pytest.mark.parametrize("qset", SETS, ids=lambda q: q.spec)
@pytest.mark.parametrize("axis", [None, 0])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_group_equals_project_per_tensor_bitwise(qset, axis, dtype) -> None:
    ws = _tensors(0, dtype)
    res = project_group(ws, qset, axis)
    for w, s, c, q in zip(ws, res.scales, res.codes, project_group(ws, qset, axis).codes):
        one = project(w, qset, axis)
        assert torch.equal(s, one.scale)
        assert torch.equal(c.long(), one.codes)
        assert torch.equal(q, c)  # deterministic
    outs = [torch.empty_like(w) for w in ws]
    project_group(ws, qset, axis, out=outs)
    for w, o in zip(ws, outs):
        assert torch.equal(o, project(w, qset, axis).q)
    assert res.stats.rows == sum(1 if axis is None else w.shape[0] for w in ws)


@pytest.mark.parametrize("qset", [Ternary(), Uniform(4), Symmetric(2), Binary(), Uniform(8)],
                         ids=lambda q: q.spec)
def test_hints_change_no_bit(qset) -> None:
    ws = _tensors(1, torch.float32, [(300, 300), (5000,), (64, 64), (70000,)])
    base = project_group(ws, qset)
    for f in (1.0, 1.0001, 0.5, 3.0, 0.0, float("nan"), float("inf"), 1e30):
        res = project_group(ws, qset, hints=[s * f for s in base.scales])
        assert all(torch.equal(a, b) for a, b in zip(res.scales, base.scales))
        assert all(torch.equal(a, b) for a, b in zip(res.codes, base.codes))


def test_in_place_output_and_workspace_reuse() -> None:
    qset, wsp = Uniform(3), Workspace()
    first = _tensors(2, torch.float32)
    ref = [project(w, qset).q for w in first]
    res = project_group(first, qset, out=first, workspace=wsp)  # out aliases the input
    assert all(torch.equal(w, r) for w, r in zip(first, ref))
    second = _tensors(3, torch.float32)
    ref2 = [project(w, qset) for w in second]
    res2 = project_group(second, qset, workspace=wsp, hints=res.scales)
    for r, a, c in zip(ref2, res2.scales, res2.codes):
        assert torch.equal(r.scale, a) and torch.equal(r.codes, c.long())


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("qset", [Ternary(), Uniform(4), Uniform(3), Binary()],
                         ids=lambda q: q.spec)
def test_stacked_short_rows_have_the_bits_of_one_call_per_tensor(qset, threads) -> None:
    """Short CPU rows of equal length are projected in one stacked call
    (:data:`qopt.projection.batched.STACK_MAX`): scales, codes and values must be those of a
    call per tensor, at one and two threads, up to the largest stacked length and beyond it
    (longer rows, whose sums torch may split across threads, must not be stacked)."""
    from qopt.projection.batched import STACK_MAX

    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for axis in (None, 0):
            shapes = [(3, 700), (3, 700), (2, 1050), (7, 300)]
            if axis is None:
                shapes += [(STACK_MAX - 1,), (STACK_MAX - 1,), (9,)] + [(36864,)] * 5
            ws = _tensors(7, torch.float32, shapes)
            ws[1][0, :5] = 0.0  # zeros and exact ties on midpoints
            ws[2][1] = ws[2][1].round()
            outs = [torch.empty_like(w) for w in ws]
            res = project_group(ws, qset, axis, out=outs)
            for w, o, s, c in zip(ws, outs, res.scales, res.codes):
                one = project_group([w], qset, axis)
                assert torch.equal(s, one.scales[0])
                assert torch.equal(c, one.codes[0])
                assert torch.equal(o, project(w, qset, axis).q)
    finally:
        torch.set_num_threads(old)


def test_codes_are_compact_and_reproduce_the_output() -> None:
    for qset, dt in ((Uniform(4), torch.int8), (Uniform(7), torch.int8), (Uniform(8), torch.int16)):
        ws = _tensors(4, torch.float64, [(50, 40)])
        outs = [torch.empty_like(w) for w in ws]
        res = project_group(ws, qset, out=outs)
        lv = torch.tensor(qset.levels, dtype=torch.float64)
        assert res.codes[0].dtype == dt
        assert torch.equal(outs[0], res.scales[0] * lv[res.codes[0].long()])


def _drift(rng: np.random.Generator, kind: str, steps: int, n: int) -> list[np.ndarray]:
    """Sequences of weights for warm starts: slow drift, a jump, a bimodal set whose two
    near-optimal scales trade places, and heavy tails."""
    w = rng.standard_normal(n)
    out = []
    for t in range(steps):
        if kind == "drift":
            w = w + 0.003 * rng.standard_normal(w.shape)
        elif kind == "jump":
            w = w * (4.0 if t == steps // 2 else 1.0)
        elif kind == "bimodal":  # two clusters; their weights swap over the steps
            a = 1.0 + 0.02 * (t - steps / 2)
            w = np.concatenate([rng.normal(1.0, 0.01, n // 2) * a, rng.normal(3.0, 0.01, n // 2)])
        else:
            w = rng.standard_cauchy(n)
        out.append(w.copy())
    return out


@pytest.mark.parametrize("qset", [Ternary(), Uniform(3), Uniform(4), Symmetric(2), Symmetric(3),
                                  Grid([-4, -2, -1, 0, 1, 2, 4], None)], ids=lambda q: q.spec)
@pytest.mark.parametrize("kind", ["drift", "jump", "bimodal", "cauchy"])
def test_warm_start_sequences_exact_against_theory(qset, kind) -> None:
    """Worst cases for the warm start: every step equals theory's minimiser; the certificate
    holds on slow drift (the case it is built for)."""
    from qopt.projection.pruned import min_row
    from qopt.projection.tables import symmetric_events

    rng = np.random.default_rng(0)
    n = min_row(len(symmetric_events(qset).mids)) + 4000  # rows that take the certified search
    hints, stats = None, ProjectionStats()
    for w in _drift(rng, kind, 6, n):
        t = torch.from_numpy(w)
        res = project_group([t], qset, hints=hints)
        got = project(t, qset)
        assert torch.equal(got.scale, res.scales[0])
        assert_same_minimiser(w, qset, None, got, theory.project(w, qset))
        hints, stats = res.scales, stats + res.stats
    assert stats.searched == 6  # every step took the certified search
    if kind == "drift":
        assert stats.certified >= stats.searched - 1  # all but the cold first step


@pytest.mark.parametrize("qset", [Ternary(), Uniform(4), Symmetric(2)], ids=lambda q: q.spec)
def test_degenerate_rows(qset) -> None:
    """All-zero rows, a single non-zero, exact ties everywhere, huge dynamic range."""
    rows = [np.zeros(70000), np.r_[np.zeros(69999), 2.5],
            np.repeat([0.5, -1.5, 2.5, 3.0], 17500), np.r_[1e-30 * np.ones(35000), np.ones(35000)]]
    ts = [torch.from_numpy(r) for r in rows]
    res = project_group(ts, qset)
    for r, t, s in zip(rows, ts, res.scales):
        got = project(t, qset)
        assert torch.equal(got.scale, s)
        assert_same_minimiser(r, qset, None, got, theory.project(r, qset))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("qset", [Binary(), Ternary(), Uniform(4), Symmetric(2)],
                         ids=lambda q: q.spec)
def test_cuda_group_is_sync_free_and_exact(qset) -> None:
    ws = [w.cuda() for w in _tensors(5, torch.float32, [(256, 128), (4096,)])]
    outs = [torch.empty_like(w) for w in ws]
    project_group(ws, qset, out=outs)  # warm-up (lazy tables)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        res = project_group(ws, qset, out=outs)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    for w, o, s in zip(ws, outs, res.scales):
        ref = theory.project(w.double().cpu().numpy(), qset)
        d = float(((w.double() - o.double()) ** 2).sum())
        assert d <= ref.dist2 + 1e-4 * float((w.double() ** 2).sum())
        assert abs(float(s) - ref.scale) <= 1e-4 * ref.scale + 1e-30
