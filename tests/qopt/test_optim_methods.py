"""QuantOptimizer methods: the update rules of
``docs/math/binaryrelax.md#algorithm`` and ``docs/math/bcgd.md#update``, schedules, exactness,
errors.

Tolerances: float64 parameters; one-step identities are compared to 1e-12 (a few roundings of
O(1) numbers), the relaxed point to theory.prox to 1e-12 relative to max|w|.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import qopt
import theory
from theory.sets import Binary, Grid, Symmetric, Ternary, Uniform


def _ls_problem(seed: int, n: int = 6, m: int = 30, rho: float = 0.9):
    """Least squares with equicorrelated features: H = AᵀA has one large eigenvalue along 1."""
    g = torch.Generator().manual_seed(seed)
    C = (1 - rho) * torch.eye(n, dtype=torch.float64) + rho * torch.ones(n, n, dtype=torch.float64)
    A = torch.randn(m, n, generator=g, dtype=torch.float64) @ torch.linalg.cholesky(C).T
    b = A @ (1.5 * torch.randn(n, generator=g, dtype=torch.float64))
    return A, b


def _loss(A: torch.Tensor, b: torch.Tensor, w: torch.Tensor) -> float:
    return float(0.5 * ((A @ w - b) ** 2).sum())


def _train_ls(A, b, qset, method, steps=2000, epoch_len=50):
    w = torch.nn.Parameter(torch.linalg.lstsq(A, b).solution.clone())
    L = float(torch.linalg.matrix_norm(A.T @ A, 2))
    base = torch.optim.SGD([{"params": [w], "qset": qset}], lr=0.3 / L)
    opt = qopt.QuantOptimizer(base, method)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [20, 30], 0.1)  # on the wrapper
    for t in range(steps):
        opt.zero_grad()
        (0.5 * ((A @ w - b) ** 2).sum()).backward()
        opt.step()
        if (t + 1) % epoch_len == 0:
            opt.end_epoch()
            sched.step()
    opt.finalize()
    return w.detach(), opt


METHODS = [qopt.BinaryConnect(), qopt.BinaryRelax(growth=1.2, phase2_at=25),
           qopt.BCGD(rho=0.01, rho_max=0.01)]


@pytest.mark.parametrize("method", METHODS, ids=lambda m: type(m).__name__)
@pytest.mark.parametrize("qset,seed", [(Grid([-3, -2, -1, 0, 1, 2, 3]), 2), (Ternary(), 0)],
                         ids=["grid", "ternary"])
def test_least_squares_beats_rounding_the_float_solution(method, qset, seed) -> None:
    """Why this problem: with equicorrelated features the loss curvature H = AᵀA is very
    anisotropic (eigenvalue ~ 1 + (n-1)·0.9 along the all-ones direction, 0.1 across), while the
    Euclidean projection P(w*) of the float solution ignores H: its rounding error has a large
    component along the stiff direction. The three methods pick codes with gradients of the loss
    (the H-metric) and end at a better quantized point. Seeds fixed; losses compared exactly."""
    A, b = _ls_problem(seed)
    w_star = torch.linalg.lstsq(A, b).solution
    once = _loss(A, b, qopt.project(w_star, qset).q)
    w, opt = _train_ls(A, b, qset, method)
    final = _loss(A, b, w)
    assert final < 0.9 * once, (final, once)
    # exactly quantized: one scale times one level per element, bitwise
    (codes, scale, levels, axis), = opt.quantized_state().values()
    assert axis is None and torch.equal(scale * levels[codes], w)
    allowed = scale * levels
    assert torch.all((w[:, None] == allowed[None, :]).any(1))


def test_binaryrelax_relaxed_point_is_theory_prox() -> None:
    g = torch.Generator().manual_seed(3)
    W = torch.nn.Parameter(torch.randn(4, 9, generator=g, dtype=torch.float64))
    V = torch.nn.Parameter(torch.randn(12, generator=g, dtype=torch.float64))
    base = torch.optim.SGD([{"params": [W], "qset": Ternary(), "axis": 0},
                            {"params": [V], "qset": Uniform(3)}], lr=0.05, momentum=0.9)
    opt = qopt.QuantOptimizer(base, qopt.BinaryRelax(lam0=0.7, growth=1.3,
                                                     phase2_frac=None))
    x = torch.randn(9, generator=g, dtype=torch.float64)
    for step in range(4):
        for p, qs, ax in ((W, Ternary(), 0), (V, Uniform(3), None)):
            lat = opt.latent[p].numpy()
            ref = theory.prox(lat, qs, opt.lam, ax)
            np.testing.assert_allclose(p.detach().numpy(), ref, rtol=0,
                                       atol=1e-12 * np.abs(lat).max())
        opt.zero_grad()
        ((W @ x).sum() ** 2 + (V ** 3).sum()).backward()
        opt.step()
        if step == 1:
            opt.end_epoch()
    assert opt.lam == pytest.approx(0.7 * 1.3)


def test_bcgd_one_step_follows_released_code_order() -> None:
    """G = P(W); backward at G; W <- (1-ρ)W + ρG; SGD step (wd on the blended W)."""
    g = torch.Generator().manual_seed(4)
    w0 = torch.randn(3, 5, generator=g, dtype=torch.float64)
    x = torch.randn(5, generator=g, dtype=torch.float64)
    W = torch.nn.Parameter(w0.clone())
    rho, lr, wd = 0.2, 0.1, 0.01
    base = torch.optim.SGD([{"params": [W], "qset": Binary(), "axis": 0}], lr=lr,
                           weight_decay=wd)
    opt = qopt.QuantOptimizer(base, qopt.BCGD(rho=rho, rho_max=0.5))
    G = torch.from_numpy(theory.project(w0.numpy(), Binary(), 0).q)
    assert torch.allclose(W.detach(), G, rtol=0, atol=1e-15)
    loss = ((W @ x) ** 2).sum()
    loss.backward()
    grad = 2 * torch.outer(G @ x, x)  # gradient at G
    opt.step()
    wb = (1 - rho) * w0 + rho * G
    w1 = wb - lr * (grad + wd * wb)
    assert torch.allclose(opt.latent[W], w1, rtol=0, atol=1e-12)
    ref = theory.project(opt.latent[W].numpy(), Binary(), 0).q
    assert np.allclose(W.detach().numpy(), ref, rtol=0, atol=1e-12)


def test_binaryconnect_one_step_with_momentum_and_float_group() -> None:
    g = torch.Generator().manual_seed(5)
    w0 = torch.randn(6, generator=g, dtype=torch.float64)
    b0 = torch.randn(2, generator=g, dtype=torch.float64)
    W, B = torch.nn.Parameter(w0.clone()), torch.nn.Parameter(b0.clone())
    base = torch.optim.SGD([{"params": [W], "qset": Symmetric(2)}, {"params": [B]}], lr=0.1,
                           momentum=0.9)
    opt = qopt.QuantOptimizer(base, "binaryconnect")
    u0 = torch.from_numpy(theory.project(w0.numpy(), Symmetric(2)).q)
    for _ in range(2):
        opt.zero_grad()
        ((W ** 2).sum() * (B ** 2).sum()).backward()
        opt.step()
    # reference: plain SGD momentum on (w, b) with the w-gradient taken at P(w)
    w, b, bw, bb = w0.clone(), b0.clone(), None, None
    u = u0
    for _ in range(2):
        gw, gb = 2 * u * (b ** 2).sum(), 2 * b * (u ** 2).sum()
        bw = gw if bw is None else 0.9 * bw + gw
        bb = gb if bb is None else 0.9 * bb + gb
        w, b = w - 0.1 * bw, b - 0.1 * bb
        u = torch.from_numpy(theory.project(w.numpy(), Symmetric(2)).q)
    assert torch.allclose(opt.latent[W], w, rtol=0, atol=1e-12)
    assert torch.allclose(B.detach(), b, rtol=0, atol=1e-12)
    assert torch.allclose(W.detach(), u, rtol=0, atol=1e-12)


def test_schedules_and_phase_switch() -> None:
    W = torch.nn.Parameter(torch.randn(8, dtype=torch.float64))
    opt = qopt.QuantOptimizer(torch.optim.SGD([{"params": [W], "qset": Ternary()}], lr=0.1),
                              qopt.BinaryRelax(lam0=2.0, growth=1.5, phase2_at=2))
    assert opt.lam == 2.0 and opt.phase == 1  # lam0 is the λ of the first step
    opt.end_epoch()
    assert opt.lam == 3.0 and opt.phase == 1
    opt.end_epoch()
    assert opt.phase == 2
    ref = theory.project(opt.latent[W].numpy(), Ternary()).q
    assert np.allclose(W.detach().numpy(), ref, atol=1e-12, rtol=0)  # phase II: at P(w)

    V = torch.nn.Parameter(torch.randn(5, dtype=torch.float64))
    opt = qopt.QuantOptimizer(torch.optim.SGD([{"params": [V], "qset": Binary()}], lr=0.1),
                              qopt.BinaryRelax(lam0=1.0, growth=2.0, per="step", phase2_at=3))
    for k in range(4):
        V.grad = torch.ones_like(V)
        opt.step()
        assert opt.lam == 2.0 ** (k + 1) and opt.phase == (2 if k + 1 >= 3 else 1)

    del opt  # V may be driven by one live QuantOptimizer at a time
    opt = qopt.QuantOptimizer(torch.optim.SGD([{"params": [V], "qset": Binary()}], lr=0.1),
                              qopt.BCGD(rho=0.001, rho_growth=2.0, rho_max=0.005))
    seen = []
    for _ in range(4):
        opt.end_epoch()
        seen.append(opt.rho)
    assert seen == [0.002, 0.004, 0.005, 0.005]


@pytest.mark.parametrize("method", METHODS, ids=lambda m: type(m).__name__)
def test_eval_quantized_and_finalize(method) -> None:
    g = torch.Generator().manual_seed(6)
    lin = torch.nn.Linear(7, 5).double()
    sets = {"weight": Uniform(4)}
    base = torch.optim.Adam([{"params": [lin.weight], "qset": sets["weight"], "axis": 0},
                             {"params": [lin.bias]}], lr=0.01)
    opt = qopt.QuantOptimizer(base, method)
    x = torch.randn(16, 7, generator=g, dtype=torch.float64)
    for _ in range(5):
        opt.zero_grad()
        lin(x).pow(2).mean().backward()
        opt.step()
    before = lin.weight.detach().clone()
    exact = theory.project(opt.latent[lin.weight].numpy(), Uniform(4), 0).q
    with opt.eval_quantized():
        assert np.allclose(lin.weight.detach().numpy(), exact, rtol=0, atol=1e-12)
        (codes, scale, levels, axis), = opt.quantized_state().values()
        assert axis == 0 and torch.equal(scale * levels[codes], lin.weight.detach())
    assert torch.equal(lin.weight.detach(), before)
    opt.finalize()
    (codes, scale, levels, _), = opt.quantized_state().values()
    assert torch.equal(scale * levels[codes], lin.weight.detach())
    assert codes.min() >= 0 and codes.max() < 15


@pytest.mark.parametrize("make,exc,match", [
    (lambda p: qopt.QuantOptimizer(torch.optim.SGD([{"params": [p], "qset": Ternary(),
                                                     "axis": 2}], lr=0.1), "bc"),
     ValueError, r"axis must lie in \[-2, 2\)"),
    (lambda p: qopt.QuantOptimizer(torch.optim.SGD([{"params": [p], "qset": "ternary"}],
                                                    lr=0.1), "bc"), TypeError, "QuantSet"),
    (lambda p: qopt.QuantOptimizer(torch.optim.SGD([p], lr=0.1), "adamw"), ValueError,
     "unknown method"),
    (lambda p: qopt.QuantOptimizer(torch.optim.SGD([p], lr=0.1), 3), TypeError, "method"),
    (lambda p: qopt.QuantOptimizer([p], "bc"), TypeError, "base must be"),
    (lambda p: qopt.QuantOptimizer(torch.optim.SGD([{"params": [p], "qset": Ternary(),
                                                     "names": ["a", "b"]}], lr=0.1), "bc"),
     ValueError, "names"),
    (lambda p: qopt.BinaryRelax(growth=0.5), ValueError, "growth"),
    (lambda p: qopt.BinaryRelax(lam0=float("nan")), ValueError, "lam0"),
    (lambda p: qopt.BinaryRelax(per="batch"), ValueError, "per"),
    (lambda p: qopt.BinaryRelax(phase2_at=-1), ValueError, "phase2_at"),
    (lambda p: qopt.BCGD(rho=0.5), ValueError, "rho"),
    (lambda p: qopt.BCGD(rho_max=2.0), ValueError, "rho_max"),
    (lambda p: Uniform(0), ValueError, "bits"),
])
def test_bad_construction(make, exc, match) -> None:
    p = torch.nn.Parameter(torch.randn(3, 4))
    with pytest.raises(exc, match=match):
        make(p)
