"""BatchNorm re-estimation at the final quantized weights (issue 10 item 4) and stopping a
diverged run (issue 11 item 2, trainer side)."""

import json

import pytest
import torch
from torch import nn

from qopt.cli import main
from qopt.train import TrainConfig, TrainingDiverged, train
from qopt.train.bn import recalibrate_bn

TINY = dict(dataset="digits", model="cnn2d", model_args={"channels": [4, 8]}, epochs=2,
            batch_size=128, lr=0.05, log_every=0, diag_every=0, num_threads=1)


def test_recalibrated_statistics_are_the_mean_of_batch_statistics():
    """running_mean = mean over batches of the batch means; running_var = mean of the unbiased
    batch variances (torch's cumulative average), computed here by hand in float64."""
    torch.manual_seed(0)
    bn = nn.BatchNorm1d(3)
    bn.running_mean.fill_(5.0)
    model = nn.Sequential(bn)
    model.eval()
    batches = [torch.randn(17, 3) * (k + 1) + k for k in range(5)]
    n = recalibrate_bn(model, iter(batches), 4)
    assert n == 4 and not model.training and bn.momentum == 0.1
    xs = [b.double() for b in batches[:4]]
    mean = torch.stack([x.mean(0) for x in xs]).mean(0)
    var = torch.stack([x.var(0, unbiased=True) for x in xs]).mean(0)
    assert torch.allclose(bn.running_mean.double(), mean, rtol=1e-6, atol=1e-6)
    assert torch.allclose(bn.running_var.double(), var, rtol=1e-6, atol=1e-6)
    assert recalibrate_bn(nn.Sequential(nn.Linear(3, 3)), iter(batches), 4) == 0  # no BN


def test_quantized_run_reports_final_after_re_estimation_and_final_raw(tmp_path):
    cfg = TrainConfig.from_dict({**TINY, "method": "binaryconnect", "weights": "binary",
                                 "bn_recalib_batches": 5})
    res = train(cfg, tmp_path / "on")
    assert res["final_raw"] == res["history"][-1]
    assert res["final"]["bn_recalibrated"] is True and res["bn_recalibration"]["batches"] == 5
    assert res["final"]["test_acc"] != res["final_raw"]["test_acc"] or \
        res["final"]["test_loss"] != res["final_raw"]["test_loss"]
    off = train(cfg.replace(bn_recalib_batches=0), tmp_path / "off")
    assert off["final"]["bn_recalibrated"] is False
    assert {k: v for k, v in off["final"].items() if k != "bn_recalibrated"} == off["final_raw"]
    assert off["final_raw"] == res["final_raw"]  # re-estimation never touches training
    flt = train(cfg.replace(method="float", weights=None), tmp_path / "float")
    assert flt["bn_recalibration"] == {"applied": False, "reason": "float weights"}
    # model.pt holds the evaluated network: its BN buffers differ from the raw run's
    a = torch.load(tmp_path / "on" / "model.pt")
    b = torch.load(tmp_path / "off" / "model.pt")
    means = [k for k in a if k.endswith("running_mean")]
    assert means and all(not torch.equal(a[k], b[k]) for k in means)
    assert all(torch.equal(a[k], b[k]) for k in a if k.endswith(".weight") and "features" in k
               and a[k].dim() == 4)


@pytest.mark.parametrize("method", ["float", "binaryconnect", "bcgd"])
def test_diverged_run_stops_naming_step_and_keeps_the_last_good_checkpoint(tmp_path, method):
    """Epoch 0 at a warm-up lr of 0.01, then lr 1e30: the loss becomes non-finite in epoch 1.
    The run stops with TrainingDiverged naming the step, writes no result and no model, and
    checkpoint.pt still holds epoch 0's finite state."""
    q = {} if method == "float" else {"method": method, "weights": "binary"}
    cfg = TrainConfig.from_dict({**TINY, **q, "schedule": "warmup_cosine", "epochs": 3,
                                 "warmup_epochs": 1, "warmup_lr": 0.01, "lr": 1e30})
    with pytest.raises(TrainingDiverged) as ei:
        train(cfg, tmp_path / "r")
    e = ei.value
    assert e.epoch == 1 and e.step is not None and e.step > 12  # 12 steps per epoch
    assert "non-finite" in str(e) and "checkpoint.pt (after epoch 0)" in str(e)
    assert not (tmp_path / "r" / "result.json").exists()
    assert not (tmp_path / "r" / "model.pt").exists()
    from qopt.train.checkpoint import read_checkpoint

    ck = read_checkpoint(tmp_path / "r" / "checkpoint.pt")
    assert ck["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in ck["model"].values() if v.is_floating_point())


def test_cli_diverged_run_exits_1_with_one_line(tmp_path, capsys):
    rc = main(["train", "--dataset", "digits", "--model", "mlp", "--epochs", "2", "--lr", "1e30",
               "--schedule", "constant", "--num-threads", "1", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert rc == 1 and err.count("\n") == 1
    assert err.startswith("qopt train: training diverged: non-finite loss at step ")
    assert "no checkpoint was written" in err
    assert not (tmp_path / "r" / "result.json").exists()
    assert json.loads((tmp_path / "r" / "config.json").read_text())["lr"] == 1e30


def test_nonfinite_skip_policy_is_a_quantized_only_knob(tmp_path):
    with pytest.raises(ValueError, match="nonfinite: 'skip' needs a QuantOptimizer"):
        TrainConfig.from_dict({**TINY, "nonfinite": "skip"}).validate()
    cfg = TrainConfig.from_dict({**TINY, "method": "binaryconnect", "weights": "binary",
                                 "nonfinite": "skip", "epochs": 1}).validate()
    from qopt.data import load_digits
    from qopt.train.setup import build_model_for, build_optimizer

    opt, _ = build_optimizer(cfg, build_model_for(cfg, load_digits()), 12)
    import inspect

    import qopt
    if "nonfinite" in inspect.signature(qopt.QuantOptimizer).parameters:  # engine with C2
        assert opt.guard.policy == "skip"
    res = train(cfg, tmp_path / "r")  # a finite run: nothing skipped
    assert res["history"][0]["nonfinite_steps"] == 0
