"""QuantOptimizer as a torch.optim citizen: save/load/continue is bit-identical, schedulers,
param groups, zero_grad. All comparisons are exact (torch.equal): same ops, same order."""

from __future__ import annotations

import io

import pytest
import torch

import qopt
from theory.sets import Binary, Symmetric, Ternary, Uniform

METHODS = [qopt.BinaryConnect(), qopt.BinaryRelax(growth=1.3, per="step", phase2_at=9),
           qopt.BinaryRelax(lam0=0.5, growth=2.0, phase2_frac=None),
           qopt.BCGD(rho=0.01, rho_growth=2.0, rho_max=0.05, per="step")]
BASES = {"sgd_momentum": lambda g: torch.optim.SGD(g, lr=0.05, momentum=0.9, weight_decay=1e-3),
         "adam": lambda g: torch.optim.Adam(g, lr=0.01)}


def _setup(seed: int, method, base_name: str):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    groups = [{"params": [net[0].weight], "qset": Ternary(), "axis": 0, "names": ["fc1"]},
              {"params": [net[2].weight], "qset": Uniform(3)},
              {"params": [net[0].bias, net[2].bias]}]
    opt = qopt.QuantOptimizer(BASES[base_name](groups), method)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    return net, opt, sched


def _data():
    g = torch.Generator().manual_seed(123)
    return torch.randn(40, 6, generator=g), torch.randint(0, 3, (40,), generator=g)


def _train(net, opt, sched, steps: range, epoch_len: int = 4) -> None:
    x, y = _data()
    for t in steps:
        xb, yb = x[(t * 8) % 40:(t * 8) % 40 + 8], y[(t * 8) % 40:(t * 8) % 40 + 8]
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(xb), yb).backward()
        opt.step()
        if (t + 1) % epoch_len == 0:
            opt.end_epoch()
            sched.step()


@pytest.mark.parametrize("base_name", list(BASES))
@pytest.mark.parametrize("method", METHODS, ids=["bc", "br_step", "br_epoch", "bcgd"])
def test_resume_is_bit_identical(method, base_name) -> None:
    net, opt, sched = _setup(0, method, base_name)
    _train(net, opt, sched, range(14))
    ref_params = [p.detach().clone() for p in net.parameters()]
    ref_latent = [w.clone() for w in opt.latent.values()]

    net, opt, sched = _setup(0, method, base_name)
    _train(net, opt, sched, range(6))
    buf = io.BytesIO()
    torch.save({"model": net.state_dict(), "opt": opt.state_dict(),
                "sched": sched.state_dict()}, buf)
    buf.seek(0)
    ck = torch.load(buf, weights_only=True)  # no pickled custom classes in the state dict
    net2, opt2, sched2 = _setup(1, method, base_name)  # different init: everything must load
    net2.load_state_dict(ck["model"])
    opt2.load_state_dict(ck["opt"])
    sched2.load_state_dict(ck["sched"])
    assert opt2.steps == 6 and opt2.lam == opt.lam and opt2.rho == opt.rho
    assert opt2.phase == opt.phase
    _train(net2, opt2, sched2, range(6, 14))
    for a, b in zip(ref_params, net2.parameters()):
        assert torch.equal(a, b.detach())
    for a, b in zip(ref_latent, opt2.latent.values()):
        assert torch.equal(a, b)


def test_load_rejects_mismatched_state() -> None:
    net, opt, _ = _setup(0, qopt.BinaryConnect(), "adam")
    sd = opt.state_dict()
    _, other, _ = _setup(0, qopt.BCGD(), "adam")
    with pytest.raises(ValueError, match="method"):
        other.load_state_dict(sd)
    with pytest.raises(ValueError, match="not a QuantOptimizer state dict"):
        opt.load_state_dict(opt.base.state_dict())
    bad = dict(sd)
    bad["param_groups"] = [dict(g) for g in sd["param_groups"]]
    bad["param_groups"][1]["qset"] = "binary"
    with pytest.raises(ValueError, match="param group 1"):
        opt.load_state_dict(bad)


def test_scheduler_param_groups_zero_grad_and_add_param_group() -> None:
    torch.manual_seed(0)
    a = torch.nn.Parameter(torch.randn(4, 3, dtype=torch.float64))
    b = torch.nn.Parameter(torch.randn(5, dtype=torch.float64))
    opt = qopt.QuantOptimizer(torch.optim.SGD([{"params": [a], "qset": Binary(), "axis": 1}],
                                              lr=0.1), qopt.BinaryConnect())
    sched = torch.optim.lr_scheduler.StepLR(opt, 1, gamma=0.1)
    assert opt.param_groups is opt.base.param_groups
    a.grad = torch.ones_like(a)
    opt.step()
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.01)
    opt.zero_grad()
    assert a.grad is None
    opt.add_param_group({"params": [b], "qset": Symmetric(2), "lr": 0.5})
    from theory import project

    assert torch.allclose(b.detach(), torch.from_numpy(project(b.detach().numpy(),
                                                               Symmetric(2)).q))
    b0 = opt.latent[b].clone()
    a.grad, b.grad = torch.zeros_like(a), torch.ones_like(b)
    opt.step()
    assert torch.allclose(opt.latent[b], b0 - 0.5)
    with pytest.raises(ValueError, match="axis"):
        opt.add_param_group({"params": [torch.nn.Parameter(torch.ones(3))], "qset": Binary(),
                             "axis": 1})
    assert len(opt.param_groups) == 2  # the rejected group was not added


def test_step_closure_returns_loss() -> None:
    w = torch.nn.Parameter(torch.tensor([0.3, -1.2, 2.0]))
    opt = qopt.QuantOptimizer(torch.optim.SGD([{"params": [w], "qset": Ternary()}], lr=0.1),
                              "bcgd")

    def closure():
        opt.zero_grad()
        loss = (w ** 2).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert torch.is_tensor(loss) and loss.item() > 0


def test_diagnostics_carry_across_resume() -> None:
    """flip_frac / approx_orth_ratio / lipschitz_est after a save/load equal (bitwise) those of an
    uninterrupted run: the previous record and the kept gradient travel in the state dict."""
    def run(cut: bool):
        net, opt, sched = _setup(0, METHODS[0], "sgd_momentum")
        opt.record_every = 3
        _train(net, opt, sched, range(6))
        opt.diagnostics()  # a record whose snapshot the next call compares with
        _train(net, opt, sched, range(6, 8))  # step 8 keeps its gradient for step 9's record
        if cut:
            buf = io.BytesIO()
            torch.save({"m": net.state_dict(), "o": opt.state_dict(), "s": sched.state_dict()},
                       buf)
            buf.seek(0)
            ck = torch.load(buf, weights_only=True)
            net, opt, sched = _setup(1, METHODS[0], "sgd_momentum")
            opt.record_every = 3
            net.load_state_dict(ck["m"])
            opt.load_state_dict(ck["o"])
            sched.load_state_dict(ck["s"])
        _train(net, opt, sched, range(8, 9))
        return opt.diagnostics()

    ref, got = run(False), run(True)
    keys = [k for k in ref if k.endswith(("flip_frac", "approx_orth_ratio", "lipschitz_est"))]
    assert keys and all(torch.isfinite(torch.as_tensor(ref[k])) for k in keys)
    for k in keys:
        assert torch.equal(torch.as_tensor(ref[k]), torch.as_tensor(got[k])), k


def _lin(out: int, method, dtype=torch.float32, **kw):
    torch.manual_seed(0)
    lin = torch.nn.Linear(6, out).to(dtype)
    base = torch.optim.SGD([{"params": [lin.weight], "qset": Ternary(), "names": ["fc.weight"]},
                            {"params": [lin.bias], "names": ["fc.bias"]}], lr=0.1, momentum=0.9)
    opt = qopt.QuantOptimizer(base, method, **kw)
    lin.weight.grad, lin.bias.grad = torch.ones_like(lin.weight), torch.ones_like(lin.bias)
    opt.step()
    return lin, opt


@pytest.mark.parametrize("make_src,make_dst,match", [
    (lambda: _lin(1, "bc"), lambda: _lin(4, "bc"),
     r"(momentum_buffer.*fc\.weight|fc\.weight).*\(1, 6\).*\(4, 6\)"),
    (lambda: _lin(4, qopt.BCGD(rho=1e-5)), lambda: _lin(4, qopt.BCGD(rho=1e-3)),
     r"different bcgd arguments \(rho: saved 1e-05, here 0\.001\)"),
    (lambda: _lin(4, "bc"), lambda: _lin(4, "bc", torch.float64), r"fc\.weight.*dtype"),
    (lambda: _lin(4, "bc", epochs=3), lambda: _lin(4, "bc", epochs=4), "run of"),
    (lambda: _lin(4, "bc"), lambda: _lin(4, "br", epochs=2), "method .binaryconnect."),
])
def test_load_validates_and_names_the_parameter(make_src, make_dst, match) -> None:
    _, src = make_src()
    lin, dst = make_dst()
    before = [p.detach().clone() for p in lin.parameters()]
    with pytest.raises(ValueError, match=match):
        dst.load_state_dict(src.state_dict())
    for a, p in zip(before, lin.parameters()):  # nothing was written
        assert torch.equal(a, p.detach())


def test_load_rejects_damaged_dicts_with_value_errors() -> None:
    _, opt = _lin(4, "bc")
    sd = opt.state_dict()
    for damage in (lambda d: d["qopt"].pop("latent"),
                   lambda d: d["qopt"].pop("counters"),
                   lambda d: d["qopt"]["latent"].clear(),
                   lambda d: d["qopt"].__setitem__("state", {"bogus": 1}),
                   lambda d: d["param_groups"].pop(),
                   lambda d: d["state"].__setitem__(7, {"momentum_buffer": torch.ones(3)})):
        bad = {**sd, "qopt": dict(sd["qopt"]), "param_groups": list(sd["param_groups"]),
               "state": dict(sd["state"])}
        bad["qopt"]["latent"] = dict(sd["qopt"]["latent"])
        damage(bad)
        with pytest.raises(ValueError):
            opt.load_state_dict(bad)


def test_version_2_state_dict_loads() -> None:
    net, opt, _ = _setup(0, qopt.BCGD(rho=0.01, rho_growth=2.0, rho_max=0.05, per="step"),
                         "adam")
    x, y = _data()
    for _ in range(3):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x[:8]), y[:8]).backward()
        opt.step()
    sd = opt.state_dict()
    q = sd["qopt"]
    sd["qopt"] = {"version": 2, "method": "BCGD", "method_args": q["method_args"],
                  "sched": {"steps": 3, "epochs": 0, "lam": None, "rho": q["state"]["rho"],
                            "phase": 2}, "latent": q["latent"], "diag": q["diag"],
                  "hint": q["hint"]}
    _, opt2, _ = _setup(1, qopt.BCGD(rho=0.01, rho_growth=2.0, rho_max=0.05, per="step"), "adam")
    opt2.load_state_dict(sd)
    assert opt2.steps == 3 and opt2.rho == opt.rho
    for a, b in zip(opt.latent.values(), opt2.latent.values()):
        assert torch.equal(a, b)


def test_a_refused_load_writes_nothing() -> None:
    """Issue 18: a state dict with a NaN momentum buffer, a negative step count or an
    overflowing λ is refused before anything is written: the optimizer continues exactly as
    before the attempt."""
    import copy

    net, opt, sched = _setup(0, METHODS[2], "sgd_momentum")
    _train(net, opt, sched, range(3))
    good = copy.deepcopy(opt.state_dict())
    before = copy.deepcopy(opt.state_dict())
    edits = [lambda sd: sd["state"][0]["momentum_buffer"].view(-1).__setitem__(0, float("nan")),
             lambda sd: sd["qopt"]["counters"].update(steps=-5),
             lambda sd: sd["qopt"]["state"].update(lam=float("inf")),
             lambda sd: sd["qopt"]["latent"][1].view(-1).__setitem__(0, float("-inf"))]
    for edit in edits:
        bad = copy.deepcopy(good)
        edit(bad)
        with pytest.raises((ValueError, TypeError)):
            opt.load_state_dict(bad)
    after = opt.state_dict()
    assert after["qopt"]["counters"] == before["qopt"]["counters"]
    assert after["qopt"]["state"] == before["qopt"]["state"]
    for k, w in before["qopt"]["latent"].items():
        assert torch.equal(after["qopt"]["latent"][k], w)
    for k, st in before["state"].items():
        assert torch.equal(after["state"][k]["momentum_buffer"], st["momentum_buffer"])


def test_a_collected_optimizer_releases_its_parameters() -> None:
    """One live QuantOptimizer per parameter: a second one is refused while the first lives,
    accepted once it is gone (weak registry; an optimizer in a reference cycle is collected
    before the refusal)."""
    import gc

    net, opt, _ = _setup(0, qopt.BinaryConnect(), "adam")
    groups = [{"params": [net[0].weight], "qset": Ternary()}]
    with pytest.raises(ValueError, match="fc1 already belongs to another live"):
        qopt.QuantOptimizer(torch.optim.SGD(
            [{**groups[0], "names": ["fc1"]}], lr=0.1), qopt.BinaryConnect())
    opt.cycle = opt  # only the garbage collector can free it now
    del opt, _
    second = qopt.QuantOptimizer(torch.optim.SGD(groups, lr=0.1), qopt.BinaryConnect())
    assert second.latent  # built
    other = torch.nn.Linear(3, 2)  # parameters of another model are free
    qopt.QuantOptimizer(torch.optim.SGD([{"params": [other.weight], "qset": Binary()}], lr=0.1),
                        qopt.BinaryConnect())
    gc.collect()


def test_schedule_overflow_names_method_and_step() -> None:
    """BinaryRelax(lam0=1e300, growth=1e10) on float64 weights: λ = 1e310 = inf at the first
    step; the step raises naming the method and the step, and the weights stay finite."""
    lin = torch.nn.Linear(4, 3).double()
    opt = qopt.QuantOptimizer(torch.optim.SGD([{"params": [lin.weight], "qset": Ternary()}],
                                              lr=0.1),
                              qopt.BinaryRelax(lam0=1e300, growth=1e10, per="step",
                                               phase2_frac=None))
    lin(torch.ones(2, 4, dtype=torch.float64)).sum().backward()
    with pytest.raises(OverflowError, match=r"BinaryRelax: schedule value lam = inf at "
                                            r"optimizer step 1 \(epoch 0\)"):
        opt.step()
    assert bool(torch.isfinite(lin.weight).all())
    # the same λ on float32 weights is refused at construction: 1e300 > finfo(float32).max
    lin32 = torch.nn.Linear(4, 3)
    with pytest.raises(ValueError, match="lam = 1e\\+300 at optimizer step 0"):
        qopt.QuantOptimizer(torch.optim.SGD([{"params": [lin32.weight], "qset": Ternary()}],
                                            lr=0.1),
                            qopt.BinaryRelax(lam0=1e300, growth=1e10, phase2_frac=None))
