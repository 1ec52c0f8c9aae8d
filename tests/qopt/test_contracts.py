"""Contract tests driven from the registries: every set kind × every method × every backend.

Sets: one instance per concrete :class:`theory.sets.QuantSet` subclass, free and fixed scale
(the grid asserts every subclass is covered). Methods: :data:`qopt.methods.registry.METHODS`, each
with its *defaults* and the run length given (so the defaults' schedules, Phase I and II, run).
Backends: CPU, and CUDA where a device exists (the only skip, stated).

Contracts, on a float64 model with one per-channel and one per-tensor quantized weight:

1. forward point = the method's reference in :mod:`theory` at steps across both phases (P(w),
   BinaryRelax's prox, PARQ's and ProxQuant's maps), and the final weights are exactly P(w)
   (theory.project), one scale times one level per element;
2. resume: a state-dict round trip mid-run continues bit-identically;
3. export: codes × scale reproduce the final weights bitwise, and load back into a fresh model.

Tolerances: float64, comparisons to 1e-12 × max|w| (a few roundings); PARQ's map divides by the
inverse slope s, so its tolerance is scaled by 1/s.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

import qopt
import theory
from qopt.methods.registry import METHODS
from theory.parq import parq
from theory.proxquant import proxquant
from theory.sets import NF4, Affine, Binary, Grid, Int, QuantSet, Symmetric, Ternary, Uniform

SETS = [Binary(), Ternary(), Uniform(3), Symmetric(2), Grid([-2.0, -1.0, 0.0, 1.0, 3.0], None),
        Grid([-1.0, 0.0, 1.0], 0.5), Binary(scale=0.3), Int(3), NF4()]
#: kinds without one level table, so without theory's PARQ / ProxQuant references: ``Affine``
#: (a zero point per slice or block); its contracts (the kept projection is the exact one at
#: every step, for every method; export) are in tests/qopt/test_blocks_training.py and
#: tests/qopt/test_export_packed.py
NO_TABLE = {Affine}
DEVICES = [pytest.param("cpu"),
           pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                         reason="no CUDA device"))]
EPOCHS, SPE, LR = 3, 2, 0.05


def _reference(name: str, w: np.ndarray, qset, axis, scalars: dict) -> np.ndarray:
    """The forward point a method must write, from theory (float64)."""
    phase = scalars.get("phase", 2.0)
    if phase == 2.0 or name in ("binaryconnect", "bcgd"):
        return theory.project(w, qset, axis).q
    if name == "binaryrelax":
        return theory.prox(w, qset, scalars["lam"], axis)
    if name == "parq":
        return parq(w, qset, scalars["inv_slope"], axis)
    if name == "proxquant":
        tau = LR * scalars["lam"]
        return w.copy() if tau == 0 else proxquant(w, qset, tau, axis)
    raise AssertionError(f"no theory reference for method {name!r}")


REFERENCED = ("binaryconnect", "binaryrelax", "bcgd", "parq", "proxquant")
CASES = [(s, m) for s in SETS for m in METHODS]


def test_grids_cover_the_registries() -> None:
    kinds = {type(s) for s in SETS}
    concrete = {c for c in QuantSet.__subclasses__()} - NO_TABLE
    assert concrete <= kinds, concrete - kinds
    assert any(s.scale is None for s in SETS) and any(s.scale is not None for s in SETS)
    assert set(REFERENCED) == set(METHODS)
    assert len(CASES) == len(SETS) * len(METHODS) == 9 * 5


def _setup(qset, name: str, device: str, seed: int = 0):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))
    net = net.double().to(device)
    groups = [{"params": [net[0].weight], "qset": qset, "axis": 0, "names": ["fc1.weight"]},
              {"params": [net[2].weight], "qset": qset, "names": ["fc2.weight"]},
              {"params": [net[0].bias, net[2].bias]}]
    opt = qopt.QuantOptimizer(torch.optim.SGD(groups, lr=LR, momentum=0.9), METHODS[name](),
                              epochs=EPOCHS, steps_per_epoch=SPE)
    return net, opt


def _data(device: str):
    g = torch.Generator().manual_seed(7)
    x = torch.randn(EPOCHS * SPE, 8, 6, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (EPOCHS * SPE, 8), generator=g)
    return x.to(device), y.to(device)


#: steps after which the forward point is checked: Phase I early and late, Phase II
CHECK_AT = (0, 1, 3, 5)


def _steps(net, opt, steps, device, check=None):
    x, y = _data(device)
    for t in steps:
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x[t]), y[t]).backward()
        opt.step()
        if check is not None and t in CHECK_AT:
            check(net, opt)


def _check_forward(name: str, qset):
    def check(net, opt):
        sc = opt.method.scalars(opt.state_m)
        for p, ax in ((net[0].weight, 0), (net[2].weight, None)):
            w = opt.latent[p].cpu().numpy()
            ref = _reference(name, w, qset, ax, sc)
            s = sc.get("inv_slope", 1.0) or 1.0
            tol = 1e-12 * max(1.0, float(np.abs(w).max())) / s
            np.testing.assert_allclose(p.detach().cpu().numpy(), ref, rtol=0, atol=tol,
                                       err_msg=f"{name} {qset} axis={ax} {sc}")
    return check


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("qset,name", CASES, ids=[f"{s.spec}-{m}" for s, m in CASES])
def test_forward_point_and_final_weights_match_theory(qset, name, device) -> None:
    net, opt = _setup(qset, name, device)
    _steps(net, opt, range(EPOCHS * SPE), device, _check_forward(name, qset))
    assert opt.epochs_done == EPOCHS and opt.phase == 2  # every default reaches Phase II
    opt.finalize()
    for p, ax in ((net[0].weight, 0), (net[2].weight, None)):
        w = opt.latent[p].cpu().numpy()
        r = theory.project(w, qset, ax)
        np.testing.assert_allclose(p.detach().cpu().numpy(), r.q, rtol=0,
                                   atol=1e-12 * max(1.0, float(np.abs(w).max())))
        codes, scale, levels, axis = opt.quantized_state()[p]
        assert axis == ax and torch.equal(scale * levels[codes], p.detach())


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("qset,name", CASES, ids=[f"{s.spec}-{m}" for s, m in CASES])
def test_resume_is_bit_identical(qset, name, device) -> None:
    n = EPOCHS * SPE
    net, opt = _setup(qset, name, device)
    _steps(net, opt, range(n), device)
    ref = [p.detach().clone() for p in net.parameters()] + list(opt.latent.values())
    net, opt = _setup(qset, name, device)
    _steps(net, opt, range(n // 2 - 1), device)  # a cut inside an epoch
    buf = io.BytesIO()
    torch.save({"m": net.state_dict(), "o": opt.state_dict()}, buf)
    buf.seek(0)
    ck = torch.load(buf, weights_only=True)
    net2, opt2 = _setup(qset, name, device, seed=1)
    net2.load_state_dict(ck["m"])
    opt2.load_state_dict(ck["o"])
    _steps(net2, opt2, range(n // 2 - 1, n), device)
    got = [p.detach() for p in net2.parameters()] + list(opt2.latent.values())
    for a, b in zip(ref, got):
        assert torch.equal(a, b)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("qset,name", CASES, ids=[f"{s.spec}-{m}" for s, m in CASES])
def test_export_round_trip(qset, name, device) -> None:
    net, opt = _setup(qset, name, device)
    _steps(net, opt, range(5), device)
    opt.finalize()
    exported = qopt.export_quantized(net, opt)
    assert set(exported) == {"0.weight", "2.weight"}
    for key, p in (("0.weight", net[0].weight), ("2.weight", net[2].weight)):
        e = exported[key]
        assert e["qset"] == qset.spec and e["codes"].dtype in (torch.int8, torch.uint8)
        assert torch.equal(qopt.export.dequantize(e), p.detach())
    fresh, _ = _setup(qset, name, device, seed=3)
    qopt.load_quantized(fresh, exported)
    assert torch.equal(fresh[0].weight, net[0].weight)
    assert torch.equal(fresh[2].weight, net[2].weight)
