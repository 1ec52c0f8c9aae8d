"""Non-finite gradients and latent weights never corrupt state (``nonfinite="raise"|"skip"``).

The strongest check: a run in which one step's gradient is NaN/Inf ends bitwise equal to the run
that never took that step (BinaryConnect has no schedule, so the advanced step counter changes
nothing) — for SGD with momentum and Adam, plain and fused. Then: the error names the step and
the tensor; reports come at record steps / epoch boundaries / ``check_nonfinite()``, never
earlier (no per-step sync); a first-step NaN leaves zero momentum; latents are checked too.
"""

from __future__ import annotations

import warnings

import pytest
import torch

import qopt
from theory.sets import Ternary, Uniform

BASES = {
    "sgd_momentum": lambda g, fused: torch.optim.SGD(g, lr=0.05, momentum=0.9,
                                                     weight_decay=1e-3, fused=fused),
    "adam": lambda g, fused: torch.optim.Adam(g, lr=0.01, fused=fused),
}


def _setup(base_name: str, fused: bool, policy: str, **kw):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(5, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3))
    groups = [{"params": [net[0].weight], "qset": Ternary(), "axis": 0, "names": ["fc1.weight"]},
              {"params": [net[2].weight], "qset": Uniform(3), "names": ["fc2.weight"]},
              {"params": [net[0].bias, net[2].bias], "names": ["fc1.bias", "fc2.bias"]}]
    opt = qopt.QuantOptimizer(BASES[base_name](groups, fused or None), qopt.BinaryConnect(),
                              nonfinite=policy, **kw)
    return net, opt


def _batch(t: int):
    g = torch.Generator().manual_seed(100 + t)
    return torch.randn(8, 5, generator=g), torch.randint(0, 3, (8,), generator=g)


def _state(net, opt):
    out = [p.detach().clone() for p in net.parameters()]
    out += [w.clone() for w in opt.latent.values()]
    out += [v.clone() for st in opt.base.state.values() for v in st.values()
            if torch.is_tensor(v)]
    return out


def _train(net, opt, steps, poison=None, what="grad"):
    for t in steps:
        x, y = _batch(t)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        if t == poison:
            if what == "grad":
                net[0].weight.grad[1, 2] = float("nan")
            else:
                net[2].bias.grad[0] = float("inf")
        opt.step()


@pytest.mark.parametrize("fused", [False, True], ids=["plain", "fused"])
@pytest.mark.parametrize("base_name", list(BASES))
@pytest.mark.parametrize("policy", ["raise", "skip"])
def test_poisoned_step_equals_the_step_never_taken(policy, base_name, fused) -> None:
    net, opt = _setup(base_name, fused, policy)
    _train(net, opt, [0, 1, 3, 4])
    ref = _state(net, opt)
    net, opt = _setup(base_name, fused, policy)
    _train(net, opt, [0, 1, 2, 3, 4], poison=2, what="grad" if policy == "raise" else "float")
    for a, b in zip(ref, _state(net, opt)):
        assert torch.equal(a, b)
    assert opt.steps == 5
    name = "gradient of fc1.weight" if policy == "raise" else \
        "gradient of float parameter fc2.bias"
    if policy == "raise":
        with pytest.raises(qopt.NonFiniteError) as info:
            opt.check_nonfinite()
        assert info.value.step == 3 and info.value.tensor == name and info.value.count == 1
        assert isinstance(info.value, FloatingPointError)
    else:
        with pytest.warns(RuntimeWarning, match=f"{name} at optimizer step 3"):
            opt.check_nonfinite()
        assert opt.guard.skipped == 1
    opt.check_nonfinite()  # reported once: the counters were reset


def test_reported_at_record_steps_and_epoch_boundaries_only() -> None:
    net, opt = _setup("sgd_momentum", False, "raise", record_every=4)
    _train(net, opt, [0, 1], poison=1)  # steps 1, 2: not a record step, nothing raised yet
    with pytest.raises(qopt.NonFiniteError, match="step 2"):
        _train(net, opt, [2, 3])  # step 4 is a record step
    net, opt = _setup("sgd_momentum", False, "raise", epochs=3, steps_per_epoch=3)
    _train(net, opt, [0], poison=0)
    _train(net, opt, [1])
    with pytest.raises(qopt.NonFiniteError, match="step 1"):
        _train(net, opt, [2])  # the epoch boundary
    assert opt.epochs_done == 1
    for p in net.parameters():
        assert torch.isfinite(p).all()


def test_first_step_nan_leaves_zero_momentum_and_unchanged_weights() -> None:
    net, opt = _setup("sgd_momentum", False, "skip")
    before = [p.detach().clone() for p in net.parameters()]
    _train(net, opt, [0], poison=0)
    for a, p in zip(before, net.parameters()):
        assert torch.equal(a, p.detach())
    bufs = [st["momentum_buffer"] for st in opt.base.state.values()]
    assert bufs and all(torch.equal(b, torch.zeros_like(b)) for b in bufs)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        opt.check_nonfinite()


def test_non_finite_latent_is_flagged_and_never_spreads() -> None:
    net, opt = _setup("adam", False, "raise")
    opt.latent[net[2].weight][0, 0] = float("inf")
    good = [p.detach().clone() for p in (net[0].weight, net[0].bias, net[2].bias)]
    _train(net, opt, [0, 1])
    for a, p in zip(good, (net[0].weight, net[0].bias, net[2].bias)):
        assert torch.equal(a, p.detach())  # every step skipped: nothing moved
    with pytest.raises(qopt.NonFiniteError, match="latent weight fc2.weight at optimizer step 1"):
        opt.end_epoch()


def test_bad_policy() -> None:
    with pytest.raises(ValueError, match="nonfinite must be one of"):
        _setup("adam", False, "ignore")


def test_huge_finite_gradient_is_not_a_non_finite_step() -> None:
    """On CPU the detection reads the 2-norm, whose sum of squares overflows for |g| ~ 1e30
    in float32: it must then confirm entry by entry and take the step (no report)."""
    from qopt.optim._nonfinite import finite_flags

    big = torch.full((4, 4), 1e30)
    bad = big.clone()
    bad[1, 1] = float("nan")
    assert finite_flags([big, bad, torch.ones(3)]).tolist() == [True, False, True]
    net, opt = _setup("sgd_momentum", False, "raise")
    x, y = _batch(0)
    opt.zero_grad()
    torch.nn.functional.cross_entropy(net(x), y).backward()
    net[0].bias.grad.fill_(1e30)  # finite; squares overflow float32
    before = net[0].bias.detach().clone()
    opt.step()
    opt.check_nonfinite()  # nothing skipped: no error
    assert not torch.equal(before, net[0].bias.detach())
    assert torch.isfinite(net[0].bias).all()
