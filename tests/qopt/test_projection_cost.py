"""The projection's share of the training step (issue 22 item 6): measured once over a few
early steps by :class:`qopt.optim.cost.CostMeter`, said once by ``qopt train`` when it
dominates. Timing values are not asserted (never timed unit tests); what is asserted is the
accounting: the share is projection time / whole-step time of the same steps, in (0, 1]."""

from __future__ import annotations

import time

import torch

import qopt
from qopt.train.trainer import CostNote
from theory.sets import Symmetric


def _opt(n: int = 4096):
    p = torch.nn.Parameter(torch.randn(n))
    return p, qopt.QuantOptimizer(torch.optim.SGD([{"params": [p], "qset": Symmetric(4)}],
                                                   lr=0.01), qopt.BinaryConnect())


def test_idle_meter_measures_nothing() -> None:
    p, opt = _opt()
    for _ in range(8):
        p.grad = torch.randn_like(p)
        opt.step()
    assert opt.cost.result() is None and not opt.cost.active


def test_share_is_projection_over_whole_step() -> None:
    p, opt = _opt()
    opt.cost.start(steps=3, skip=1)
    extra = 0.02  # work outside the optimizer (the forward/backward of a real step)
    for _ in range(6):
        p.grad = torch.randn_like(p)
        time.sleep(extra)
        opt.step()
    res = opt.cost.result()
    assert res is not None and res["steps"] == 3 and res["first"] == 2
    assert 0.0 < res["share"] < 1.0
    assert res["step_ms"] >= 1e3 * extra  # every interval holds the sleep
    assert res["proj_ms"] <= res["step_ms"]
    assert abs(res["share"] - res["proj_ms"] / res["step_ms"]) < 1e-12


class _Fake:
    def __init__(self, share: float) -> None:
        res = {"share": share, "proj_ms": 7.0 * share, "step_ms": 7.0, "steps": 5, "first": 3}
        self.cost = type("M", (), {"result": lambda self: res})()


def test_note_says_it_once_when_dominant(capsys) -> None:
    note = CostNote()
    for _ in range(3):
        note(_Fake(0.7))
    err = capsys.readouterr().err
    assert note.done and err.count("note: the exact projection takes 70% of the training step") \
        == 1 and "4.9 of 7.0 ms per step, measured over steps 3-7" in err
    quiet = CostNote()
    quiet(_Fake(0.3))
    assert quiet.done and capsys.readouterr().err == ""


def test_note_waits_for_the_measurement() -> None:
    p, opt = _opt()
    opt.cost.start(steps=2, skip=0)
    note = CostNote()
    p.grad = torch.randn_like(p)
    opt.step()
    note(opt)
    assert not note.done  # one step start only: no interval measured yet
    for _ in range(3):
        p.grad = torch.randn_like(p)
        opt.step()
        note(opt)
    assert note.done and note.result["steps"] == 2
