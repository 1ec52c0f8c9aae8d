"""QuantOptimizer as a torch.optim citizen: step hooks fire, a base optimizer without quantized
groups is refused (the error names qopt.param_groups), epoch schedules advance from step() given
steps_per_epoch with end_epoch() optional and never double-counting."""

from __future__ import annotations

import pytest
import torch

import qopt
from theory.sets import Ternary


def _lin_opt(method=None, **kw):
    torch.manual_seed(0)
    lin = torch.nn.Linear(4, 3)
    base = torch.optim.SGD([{"params": [lin.weight], "qset": Ternary()},
                            {"params": [lin.bias]}], lr=0.1, momentum=0.9)
    return lin, qopt.QuantOptimizer(base, method or qopt.BinaryConnect(), **kw)


def _steps(lin, opt, n, seed=0):
    g = torch.Generator().manual_seed(seed)
    for _ in range(n):
        opt.zero_grad()
        lin(torch.randn(5, 4, generator=g)).pow(2).mean().backward()
        opt.step()


def test_step_hooks_fire_in_order() -> None:
    lin, opt = _lin_opt()
    seen = []
    h1 = opt.register_step_pre_hook(lambda o, a, k: seen.append(("pre", o.steps)))
    h2 = opt.register_step_post_hook(lambda o, a, k: seen.append(("post", o.steps)))
    _steps(lin, opt, 2)
    assert seen == [("pre", 0), ("post", 1), ("pre", 1), ("post", 2)]
    h1.remove()
    h2.remove()
    _steps(lin, opt, 1)
    assert len(seen) == 4


def test_state_dict_hooks_fire() -> None:
    lin, opt = _lin_opt()
    opt.register_state_dict_post_hook(lambda o, sd: {**sd, "mark": 1})
    sd = opt.state_dict()
    assert sd["mark"] == 1
    calls = []
    opt.register_load_state_dict_post_hook(lambda o: calls.append(o.steps))
    opt.load_state_dict(sd)
    assert calls == [0]


def test_no_quantized_group_is_an_error_naming_param_groups() -> None:
    lin = torch.nn.Linear(4, 3)
    with pytest.raises(ValueError, match=r"qopt\.param_groups\(model\).*allow_float_only"):
        qopt.QuantOptimizer(torch.optim.SGD(lin.parameters(), lr=0.1), qopt.BinaryConnect())
    opt = qopt.QuantOptimizer(torch.optim.SGD(lin.parameters(), lr=0.1), "bc",
                              allow_float_only=True)
    assert opt.latent == {}


def test_epochs_advance_from_step_and_end_epoch_does_not_double_count() -> None:
    br = qopt.BinaryRelax(lam0=1.0, growth=2.0, phase2_at=2)
    lin_a, auto = _lin_opt(br, epochs=3, steps_per_epoch=4)
    lin_b, manual = _lin_opt(br)
    lams = []
    for _epoch in range(3):
        _steps(lin_a, auto, 4, seed=_epoch)
        lams.append(auto.lam)
        auto.end_epoch()  # at the boundary step() already crossed: no second advance
        _steps(lin_b, manual, 4, seed=_epoch)
        manual.end_epoch()
        assert auto.epochs_done == manual.epochs_done == _epoch + 1
        assert auto.lam == manual.lam and auto.phase == manual.phase
    assert lams == [2.0, 4.0, 8.0]
    assert torch.equal(lin_a.weight, lin_b.weight)
    assert torch.equal(auto.latent[lin_a.weight], manual.latent[lin_b.weight])
    assert auto.phase2_epoch == 2
    assert _lin_opt(qopt.BCGD(), epochs=3)[1].phase2_epoch is None  # no switch
    assert _lin_opt(qopt.BinaryRelax(), epochs=10)[1].phase2_epoch == 8  # round(0.75 * 10)


def test_end_epoch_mid_epoch_restarts_the_epoch_count() -> None:
    lin, opt = _lin_opt(qopt.BCGD(rho=1e-3, rho_growth=2.0), steps_per_epoch=3)
    _steps(lin, opt, 2)
    opt.end_epoch()  # a short epoch, ended by hand
    assert opt.epochs_done == 1 and opt.rho == 2e-3
    _steps(lin, opt, 2)
    assert opt.epochs_done == 1
    _steps(lin, opt, 1)  # 3 steps after the hand-made boundary
    assert opt.epochs_done == 2 and opt.rho == 4e-3


@pytest.mark.parametrize("kw,match", [
    ({"epochs": 0}, "epochs"), ({"steps_per_epoch": 2.5}, "steps_per_epoch"),
    ({"record_every": -1}, "record_every"), ({"allow_float_only": 1}, "allow_float_only")])
def test_bad_keywords(kw, match) -> None:
    with pytest.raises((TypeError, ValueError), match=match):
        _lin_opt(**kw)
