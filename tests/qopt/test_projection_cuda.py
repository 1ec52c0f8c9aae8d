"""CUDA: the projection and the optimizer step on the GPU (skipped without CUDA).

On CUDA the projection takes the sync-free sort-based paths (top-t scan, full breakpoint sweep);
its minimiser must be theory's: distances within 1e-4 relative of theory's (float32 compute,
sums of the scans in float64) and never below them beyond that rounding.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import qopt
import theory
from qopt.projection import Workspace, project, project_group
from theory.sets import Binary, Grid, Symmetric, Ternary, Uniform

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")

SETS = [Binary(), Ternary(), Uniform(3), Uniform(4), Symmetric(2), Grid([-1, 0, 2, 5], None),
        Uniform(4, scale=0.1)]


@pytest.mark.parametrize("qset", SETS, ids=lambda q: q.spec)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_project_on_cuda_is_theorys_minimiser(qset, dtype) -> None:
    g = torch.Generator().manual_seed(0)
    w = torch.randn(3, 2000, generator=g, dtype=torch.float64)
    for axis in (None, 0):
        r = project(w.to(dtype).cuda(), qset, axis)
        ref = theory.project(w.to(dtype).double().numpy(), qset, axis)
        d_ref = float(np.sum(np.asarray(ref.dist2)))
        d = float(((w.to(dtype).double() - r.q.double().cpu()) ** 2).sum())
        tol = 1e-4 * float((w * w).sum()) if dtype == torch.float32 else 1e-10 * d_ref
        assert abs(d - d_ref) <= tol + 1e-12


def test_group_on_cuda_writes_outputs_without_host_sync() -> None:
    ws = [torch.randn(512, 256, device="cuda"), torch.randn(10_000, device="cuda")]
    outs = [torch.empty_like(w) for w in ws]
    for qset in (Ternary(), Uniform(4), Symmetric(2), Binary()):
        project_group(ws, qset, out=outs, workspace=Workspace())  # lazy tables
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            res = project_group(ws, qset, out=outs)
        finally:
            torch.cuda.set_sync_debug_mode(0)
        for o, c, s in zip(outs, res.codes, res.scales):
            lv = torch.tensor(qset.levels, device="cuda", dtype=torch.float32)
            assert torch.equal(o, s * lv[c.long()])


@pytest.mark.parametrize("qset", [Ternary(), Uniform(4)], ids=lambda q: q.spec)
def test_quant_optimizer_step_on_cuda_writes_the_projection(qset) -> None:
    torch.manual_seed(0)
    model = torch.nn.Linear(300, 200).cuda()
    opt = qopt.QuantOptimizer(torch.optim.SGD([{"params": [model.weight], "qset": qset},
                                               {"params": [model.bias]}], lr=0.1),
                              qopt.BinaryConnect())
    for _ in range(3):
        model.weight.grad = torch.randn_like(model.weight)
        model.bias.grad = torch.randn_like(model.bias)
        opt.step()
    latent = opt.latent[model.weight]
    ref = theory.project(latent.double().cpu().numpy(), qset)
    d = float(((latent.double() - model.weight.double()) ** 2).sum())
    assert abs(d - ref.dist2) <= 1e-4 * float((latent.double() ** 2).sum())


def test_benchmark_sections_run_on_cuda() -> None:
    from benchmarks import projection, training_step

    rows = projection.run(quick=True, device="cuda", sets=["ternary"])
    assert rows and all(r["device"].startswith("cuda") for r in rows)
    rows = training_step.run(quick=True, device="cuda")
    assert rows[0]["variant"] == "float" and all(r["step_ms"] > 0 for r in rows)
