"""Trainer options that need no GPU: torch.compile and bf16 autocast on CPU."""

import math

import torch

from qopt.train import TrainConfig, train

TINY = dict(dataset="digits", model="mlp", model_args={"hidden": [32]}, epochs=2,
            batch_size=128, lr=0.05, log_every=4, diag_every=4, num_threads=1,
            method="binaryconnect", weights="ternary")


def test_compiled_run_follows_the_eager_run(tmp_path):
    """torch.compile changes kernels, not the math: the per-epoch training losses of a compiled
    run agree with the eager run to 1e-4 relative (fused kernels round differently at ~1e-7,
    amplified over two epochs of 12 steps), and its final weights are exactly quantized."""
    eager = train(TrainConfig.from_dict(TINY), tmp_path / "eager", resume=False)
    comp = train(TrainConfig.from_dict({**TINY, "compile": True}), tmp_path / "comp",
                 resume=False)
    le = [h["train_loss"] for h in eager["history"]]
    lc = [h["train_loss"] for h in comp["history"]]
    assert len(le) == len(lc) == 2
    for a, b in zip(le, lc):
        assert math.isclose(a, b, rel_tol=1e-4), (le, lc)
    sd = torch.load(tmp_path / "comp" / "model.pt")
    w = [v for k, v in sd.items() if k.endswith("weight") and v.dim() == 2][0]
    assert torch.unique(w).numel() <= 3


def test_bf16_autocast_on_cpu_changes_numerics_but_not_learning(tmp_path):
    """amp='bf16' runs autocast-eligible ops in bfloat16 (CPU autocast here): the losses differ
    from the float32 run (so autocast is really on) by at most a few percent (bf16 keeps 8
    mantissa bits, ~0.4% per op), accuracy stays within 10 points, and the stored weights stay
    float32 and exactly quantized."""
    cfg = {**TINY, "epochs": 3}
    ref = train(TrainConfig.from_dict({**cfg, "amp": "off"}), tmp_path / "fp32", resume=False)
    res = train(TrainConfig.from_dict({**cfg, "amp": "bf16"}), tmp_path / "bf16", resume=False)
    lr_ = [h["train_loss"] for h in ref["history"]]
    lb = [h["train_loss"] for h in res["history"]]
    assert all(math.isfinite(x) for x in lb)
    assert lb != lr_
    for a, b in zip(lr_, lb):
        assert abs(a - b) <= 0.05 * a
    assert abs(res["history"][-1]["test_acc"] - ref["history"][-1]["test_acc"]) <= 0.10
    sd = torch.load(tmp_path / "bf16" / "model.pt")
    w = [v for k, v in sd.items() if k.endswith("weight") and v.dim() == 2][0]
    assert w.dtype == torch.float32 and torch.unique(w).numel() <= 3
