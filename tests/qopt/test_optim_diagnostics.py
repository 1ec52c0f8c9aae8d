"""QuantOptimizer.diagnostics(): the keys of
``docs/formats.md#diag-records`` and their values against float64 formulas
computed independently here (theory.project for P). Tolerance 1e-10 relative: float64 sums of
O(10^2) terms in different orders."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import qopt
import theory
from theory.sets import Ternary, Uniform

KEYS = {"dist2", "orth_residual", "orth_rel", "flip_frac", "approx_orth_ratio", "lipschitz_est",
        "grad_norm"}


def _quad(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(20, 12, generator=g, dtype=torch.float64)
    b = torch.randn(20, generator=g, dtype=torch.float64)
    return A, b


def test_keys_and_values() -> None:
    A, b = _quad()
    W = torch.nn.Parameter(torch.randn(3, 4, dtype=torch.float64))
    V = torch.nn.Parameter(torch.randn(7, dtype=torch.float64))
    base = torch.optim.SGD([{"params": [W], "qset": Ternary(), "axis": 0, "names": ["conv"]},
                            {"params": [V], "qset": Uniform(3)}], lr=0.05)
    opt = qopt.QuantOptimizer(base, qopt.BinaryRelax(phase2_frac=None, growth=1.04),
                              record_every=3)

    def grad_step():
        opt.zero_grad()
        (0.5 * ((A @ W.reshape(-1) - b) ** 2).sum() + (V ** 4).sum()).backward()
        opt.step()

    for _ in range(3):
        grad_step()
    d1 = opt.diagnostics()
    assert set(d1) == {f"conv/{k}" for k in KEYS} | {f"g1.p0/{k}" for k in KEYS} | {
        "lam", "phase", "lr", "step"}
    assert d1["step"] == 3 and d1["phase"] == 1 and d1["lam"] == 1.0
    assert d1["lr"] == 0.05
    w1 = opt.latent[W].numpy().copy()
    r = theory.project(w1, Ternary(), 0)
    assert float(d1["conv/dist2"]) == pytest.approx(float(np.sum(r.dist2)), rel=1e-10)
    # cone: <w - P(w), P(w)> = 0 to rounding
    assert abs(float(d1["conv/orth_residual"])) <= 1e-12 * float(np.sum(w1 * w1))
    assert math.isnan(float(d1["conv/flip_frac"]))  # first record
    assert math.isnan(float(d1["conv/approx_orth_ratio"]))
    # lipschitz_est at the record step 3: the gradient of W is A^T(A u - b) (reshaped), so the
    # ratio is ||A^T A du|| / ||du|| with u the relaxed points of steps 2 and 3
    lip = float(d1["conv/lipschitz_est"])
    L = float(torch.linalg.matrix_norm(A.T @ A, 2))
    sig_min = float(torch.linalg.svdvals(A)[-1]) ** 2
    assert sig_min * (1 - 1e-9) <= lip <= L * (1 + 1e-9)
    assert float(d1["conv/grad_norm"]) > 0
    for _ in range(3):
        grad_step()
    d2 = opt.diagnostics()
    w2 = opt.latent[W].numpy()
    r2 = theory.project(w2, Ternary(), 0)
    flips = np.mean(r2.codes != r.codes)
    assert float(d2["conv/flip_frac"]) == pytest.approx(flips, abs=1e-15)
    p1, p2 = r.q, r2.q
    num = abs(np.sum((w2 - p2) * p1) + np.sum((w1 - p1) * p2))
    den = np.sum((p2 - p1) ** 2)
    ratio = float(d2["conv/approx_orth_ratio"])
    if den > 0:
        assert ratio == pytest.approx(num / den, rel=1e-9, abs=1e-12)
    else:
        assert math.isnan(ratio)
    orth = float(d2["g1.p0/orth_residual"])
    wv = opt.latent[V].numpy()
    pv = theory.project(wv, Uniform(3)).q
    rel = abs(np.sum((wv - pv) * pv)) / (np.linalg.norm(wv - pv) * np.linalg.norm(pv))
    assert float(d2["g1.p0/orth_rel"]) == pytest.approx(rel, rel=1e-6, abs=1e-12)
    assert abs(orth) <= 1e-12 * float(np.sum(wv * wv))


def test_lipschitz_exact_on_a_quadratic_bcgd() -> None:
    """f(u) = ½ uᵀ diag(h) u: g = h ⊙ u, so ||Δg|| / ||Δu|| is computable from the iterates."""
    h = torch.tensor([1.0, 2.0, 3.0, 5.0], dtype=torch.float64)
    w = torch.nn.Parameter(torch.tensor([0.9, -0.4, 1.7, -2.2], dtype=torch.float64))
    opt = qopt.QuantOptimizer(torch.optim.SGD([{"params": [w], "qset": Uniform(4)}], lr=0.3),
                              qopt.BCGD(rho=0.05, rho_max=0.05), record_every=2)
    us = []
    for _ in range(2):
        us.append(w.detach().clone())
        opt.zero_grad()
        (0.5 * (h * w ** 2).sum()).backward()
        opt.step()
    d = opt.diagnostics()
    du = us[1] - us[0]
    expect = float(torch.linalg.vector_norm(h * du) / torch.linalg.vector_norm(du))
    got = float(d["g0.p0/lipschitz_est"])
    if float(torch.linalg.vector_norm(du)) > 0:
        assert got == pytest.approx(expect, rel=1e-12)
    else:
        assert math.isnan(got)
    assert d["rho"] == 0.05 and d["phase"] == 2
    assert float(d["g0.p0/grad_norm"]) == pytest.approx(float(torch.linalg.vector_norm(h * us[1])))


def test_no_record_means_no_stash() -> None:
    """Without record_every nothing is kept between steps (the hot path stores nothing)."""
    w = torch.nn.Parameter(torch.randn(5, dtype=torch.float64))
    opt = qopt.QuantOptimizer(torch.optim.SGD([{"params": [w], "qset": Ternary()}], lr=0.1),
                              "bc")
    for _ in range(3):
        w.grad = torch.ones_like(w)
        opt.step()
    assert opt._stash == {} and opt._rec == {}
    d = opt.diagnostics()
    assert math.isnan(float(d["g0.p0/lipschitz_est"]))
    assert float(d["g0.p0/grad_norm"]) == pytest.approx(math.sqrt(5))
