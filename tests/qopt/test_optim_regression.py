"""Bit-identity regression of the quantized training step across refactors of the engine.

A tiny Linear/Conv1d model trains a few steps (SGD with momentum and weight decay, one Adam case)
with BinaryConnect, BinaryRelax (per-epoch and per-step continuation, with a phase switch inside
the run) and BCGD (growing ρ), on binary/ternary/uniform:4 sets per tensor and per channel. The
SHA-256 of every parameter and latent weight (raw bytes) after training must equal the value
recorded with the engine as it was before the method/optimizer redesign (commit 8d13c64): the
redesign moved code, it must not change a single bit of the training trajectory.

``RECORDED`` was produced by this file's ``_run`` on that commit (CPU, float32); regenerate it
only for a change that is *meant* to alter training numbers, and say so in the commit.
"""

from __future__ import annotations

import hashlib

import pytest
import torch

import qopt
from theory.sets import parse_qset

SETS = ("binary", "ternary", "uniform:4")
AXES = (None, 0)


def _methods() -> dict[str, object]:
    """Method objects with explicit arguments, as the redesign's API spells them."""
    return {
        "bc": qopt.BinaryConnect(),
        "br_epoch": qopt.BinaryRelax(lam0=1.0, growth=1.5, per="epoch", phase2_at=2),
        "br_step": qopt.BinaryRelax(lam0=0.5, growth=1.1, per="step", phase2_at=7,
                                    phase2_unit="step"),
        "bcgd": qopt.BCGD(rho=1e-3, rho_growth=2.0, rho_max=0.01, per="step"),
    }


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv1d(2, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                               torch.nn.Linear(4 * 6, 5), torch.nn.ReLU(),
                               torch.nn.Linear(5, 3))


def _run(method_key: str, spec: str, axis: int | None, base: str = "sgd") -> str:
    model = _model()
    qopt.quantize_model(model, weights=parse_qset(spec), axis=axis, keep_float=["5"])
    groups = qopt.param_groups(model, weight_decay=1e-4)
    if base == "sgd":
        opt_base = torch.optim.SGD(groups, lr=0.05, momentum=0.9)
    else:
        opt_base = torch.optim.Adam(groups, lr=1e-2)
    opt = qopt.QuantOptimizer(opt_base, _methods()[method_key])
    g = torch.Generator().manual_seed(1)
    x = torch.randn(16, 2, 8, generator=g)
    y = torch.randint(0, 3, (16,), generator=g)
    for _epoch in range(3):
        for b in range(4):
            xb, yb = x[4 * b:4 * b + 4], y[4 * b:4 * b + 4]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xb), yb).backward()
            opt.step()
        opt.end_epoch()
    h = hashlib.sha256()
    for p in model.parameters():
        h.update(p.detach().contiguous().numpy().tobytes())
    for w in opt.latent.values():
        h.update(w.detach().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


CASES = [(m, s, a, "sgd") for m in ("bc", "br_epoch", "br_step", "bcgd") for s in SETS
         for a in AXES] + [(m, "ternary", 0, "adam") for m in ("br_epoch", "bcgd")]

RECORDED: dict[str, str] = {
    "bc/binary/None/sgd": "c9f270a54a4914e2",
    "bc/binary/0/sgd": "94f0a2d5717f0cc2",
    "bc/ternary/None/sgd": "de7ca850393df3a5",
    "bc/ternary/0/sgd": "9c54d3ed2784189e",
    "bc/uniform:4/None/sgd": "32cc70f5a31b1c67",
    "bc/uniform:4/0/sgd": "ecdb89cfc8468567",
    "br_epoch/binary/None/sgd": "5dd5fb8bf061e813",
    "br_epoch/binary/0/sgd": "0b5bad1204538a34",
    "br_epoch/ternary/None/sgd": "eaaa811d96fdaf48",
    "br_epoch/ternary/0/sgd": "2c73d8e4e353f557",
    "br_epoch/uniform:4/None/sgd": "93c3805c3d4521d9",
    "br_epoch/uniform:4/0/sgd": "9cd8968745f15abd",
    "br_step/binary/None/sgd": "e42fe041b7d7297d",
    "br_step/binary/0/sgd": "2076a8e0269059d4",
    "br_step/ternary/None/sgd": "6e9e6f9d9e0733dc",
    "br_step/ternary/0/sgd": "e95629a62b817467",
    "br_step/uniform:4/None/sgd": "e7378b016076cc6d",
    "br_step/uniform:4/0/sgd": "bfbe19192ce3d2fb",
    "bcgd/binary/None/sgd": "40a9fc9e7bd227a2",
    "bcgd/binary/0/sgd": "fb34929578d9c9e3",
    "bcgd/ternary/None/sgd": "e0fd29abf6837751",
    "bcgd/ternary/0/sgd": "0bfeb5121f6e9a2d",
    "bcgd/uniform:4/None/sgd": "e30e3afc1a59dbd7",
    "bcgd/uniform:4/0/sgd": "caa89e811dead3dc",
    "br_epoch/ternary/0/adam": "884c4404789981f5",
    "bcgd/ternary/0/adam": "78f2dae7bf13e33b",
}


def _key(case: tuple) -> str:
    return "/".join(str(c) for c in case)


def test_grid_size() -> None:
    assert len(CASES) == 4 * 3 * 2 + 2


@pytest.mark.parametrize("case", CASES, ids=_key)
def test_training_is_bit_identical_to_the_recorded_engine(case) -> None:
    assert _run(*case) == RECORDED[_key(case)]


if __name__ == "__main__":  # print the table to paste into RECORDED
    for c in CASES:
        print(f'    "{_key(c)}": "{_run(*c)}",')
