"""Bit-identity regression of the quantized training step across refactors of the engine.

A tiny Linear/Conv1d model trains a few steps (SGD with momentum and weight decay, one Adam case)
with BinaryConnect, BinaryRelax (per-epoch and per-step continuation, with a phase switch inside
the run) and BCGD (growing ρ), on binary/ternary/uniform:4 sets per tensor and per channel. The
SHA-256 of every parameter and latent weight (raw bytes) after training must equal the value
recorded with the engine as it was before the method/optimizer redesign (commit 8d13c64): the
redesign moved code, it must not change a single bit of the training trajectory.

``RECORDED`` was produced by this file's ``_run`` on that commit (CPU, float32, one thread: the
summation order of a reduction depends on the thread count); regenerate it
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
        # the engine before had λ = lam0·growth^(k+1) during unit k; lam0 is now the first λ
        "br_epoch": qopt.BinaryRelax(lam0=1.0 * 1.5, growth=1.5, per="epoch", phase2_at=2),
        "br_step": qopt.BinaryRelax(lam0=0.5 * 1.1, growth=1.1, per="step", phase2_at=7),
        "bcgd": qopt.BCGD(rho=1e-3, rho_growth=2.0, rho_max=0.01, per="step"),
    }


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv1d(2, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                               torch.nn.Linear(4 * 6, 5), torch.nn.ReLU(),
                               torch.nn.Linear(5, 3))


def _run(method_key: str, spec: str, axis: int | None, base: str = "sgd") -> str:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # reductions (the binary scale) split by thread: fix the count
    try:
        return _train(method_key, spec, axis, base)
    finally:
        torch.set_num_threads(threads)


def _train(method_key: str, spec: str, axis: int | None, base: str) -> str:
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
    "bc/binary/None/sgd": "43aea2adc66b4b02",
    "bc/binary/0/sgd": "54da4735c9e8de2c",
    "bc/ternary/None/sgd": "3f7dfb438a05d990",
    "bc/ternary/0/sgd": "03b6859dc5bc01e2",
    "bc/uniform:4/None/sgd": "c3b4ad8debf97d8b",
    "bc/uniform:4/0/sgd": "12ee15c088405ddd",
    "br_epoch/binary/None/sgd": "28fb8f9d62c32159",
    "br_epoch/binary/0/sgd": "fb1210fd199e4b65",
    "br_epoch/ternary/None/sgd": "36f329c8d636a1d4",
    "br_epoch/ternary/0/sgd": "a9b94991688140f0",
    "br_epoch/uniform:4/None/sgd": "63423f6108be0853",
    "br_epoch/uniform:4/0/sgd": "121e28dc8195c7ba",
    "br_step/binary/None/sgd": "39604411db96c258",
    "br_step/binary/0/sgd": "55a3d7d85ff5dc44",
    "br_step/ternary/None/sgd": "bd6737d4ef413d56",
    "br_step/ternary/0/sgd": "cee3eeca00031268",
    "br_step/uniform:4/None/sgd": "507c0ce4ba24ff0f",
    "br_step/uniform:4/0/sgd": "ef01214c0d9aee2a",
    "bcgd/binary/None/sgd": "6168ba609a2f88d2",
    "bcgd/binary/0/sgd": "ea99b191c4ab373f",
    "bcgd/ternary/None/sgd": "2be7ea1f3ce6df2f",
    "bcgd/ternary/0/sgd": "ce59983dffbd744f",
    "bcgd/uniform:4/None/sgd": "216c561d3dbef4fa",
    "bcgd/uniform:4/0/sgd": "dad77c63cbae16e6",
    "br_epoch/ternary/0/adam": "bc8edece24b7b658",
    "bcgd/ternary/0/adam": "95821ee3dd071b73",
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
