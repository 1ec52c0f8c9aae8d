"""Every trainer knob reachable from the CLI and TOML (issue 10 item 7): the QuantReLU step
options, AdamW (decoupled decay) and Adam betas, a user's own model class, and the Phase-II
learning-rate factor."""

import json
import math

import pytest
import torch

from qopt.cli import main
from qopt.data import load_digits
from qopt.train import TrainConfig, train
from qopt.train.schedules import EpochFactor
from qopt.train.setup import build_model_for, build_optimizer

TINY = dict(dataset="digits", model="mlp", model_args={"hidden": [16]}, epochs=1,
            batch_size=256, lr=0.05, log_every=0, diag_every=0, num_threads=1)


def test_quant_relu_options_reach_the_modules():
    from qopt.nn import QuantReLU

    cfg = TrainConfig.from_dict({**TINY, "method": "bcgd", "weights": "binary", "act_bits": 2,
                                 "act_alpha": 0.7, "learn_alpha": True, "alpha_grad": "ae",
                                 "alpha_grad_rate": 0.01, "alpha_grad_clip": 1.0,
                                 "alpha_min": 0.05, "act_init": "bcgd"}).validate()
    model = build_model_for(cfg, load_digits())
    acts = [m for m in model.modules() if isinstance(m, QuantReLU)]
    assert acts
    for m in acts:
        assert m.bits == 2 and float(m.alpha.detach()) == pytest.approx(0.7)
        assert isinstance(m.alpha, torch.nn.Parameter) and m.alpha_grad == "ae"
        assert (m.alpha_grad_rate, m.alpha_grad_clip, m.alpha_min) == (0.01, 1.0, 0.05)
    # act_init chooses the Gaussian-optimal constant when act_alpha is none
    from qopt.nn.constants import quant_relu_alpha

    cfg2 = cfg.replace(act_alpha=None, act_init="round")
    m2 = [m for m in build_model_for(cfg2, load_digits()).modules()
          if isinstance(m, QuantReLU)][0]
    assert float(m2.alpha) == pytest.approx(quant_relu_alpha(2, "ceil", "round"))


def test_quant_relu_options_from_the_cli(tmp_path):
    out = tmp_path / "r"
    assert main(["train", "--dataset", "digits", "--model", "mlp", "--model-args",
                 "hidden=[16]", "--method", "bcgd", "--weights", "binary", "--act-bits", "2",
                 "--act-alpha", "0.7", "--learn-alpha", "--alpha-grad-rate", "0.01",
                 "--alpha-grad-clip", "1", "--alpha-min", "0.05", "--epochs", "1",
                 "--num-threads", "1", "--out", str(out)]) == 0
    conf = json.loads((out / "config.json").read_text())
    assert (conf["act_alpha"], conf["learn_alpha"], conf["alpha_grad_rate"],
            conf["alpha_grad_clip"], conf["alpha_min"]) == (0.7, True, 0.01, 1.0, 0.05)


def test_adamw_decay_is_decoupled_and_betas_reach_the_optimizer():
    """With a zero gradient, AdamW shrinks w by exactly lr*wd*w (decoupled decay: w <- w -
    lr*wd*w), while Adam's L2 decay enters the adaptive step (w <- w - lr*sign(w) at step 1,
    since m/sqrt(v) = g/|g| for g = wd*w)."""
    for name in ("adamw", "adam"):
        cfg = TrainConfig.from_dict({**TINY, "model_args": {"hidden": []}, "optimizer": name,
                                     "lr": 0.1, "weight_decay": 0.5, "betas": [0.8, 0.9],
                                     "eps": 1e-12}).validate()
        model = build_model_for(cfg, load_digits())
        opt, _ = build_optimizer(cfg, model)
        assert type(opt).__name__ == {"adamw": "AdamW", "adam": "Adam"}[name]
        assert opt.param_groups[0]["betas"] == (0.8, 0.9) and opt.param_groups[0]["eps"] == 1e-12
        w0 = [p.detach().clone() for p in model.parameters()]
        for p in model.parameters():
            p.grad = torch.zeros_like(p)
        opt.step()
        for p, w in zip(model.parameters(), w0):
            if name == "adamw":
                assert torch.allclose(p, w * (1 - 0.1 * 0.5), rtol=1e-6, atol=0)
            else:
                want = w - 0.1 * torch.sign(w)
                assert torch.allclose(p, want, rtol=0, atol=1e-6)


def test_user_model_class_trains_and_is_recorded(tmp_path):
    cfg = TrainConfig.from_dict({**TINY, "model": "tests.qopt.user_model:TinyNet",
                                 "model_args": {"width": 12}, "method": "binaryconnect",
                                 "weights": "ternary"})
    res = train(cfg, tmp_path / "r")
    sd = torch.load(tmp_path / "r" / "model.pt")
    assert sd["net.1.weight"].shape == (12, 64)
    assert torch.unique(sd["net.1.weight"]).numel() <= 3  # quantized
    assert res["final"]["bn_recalibrated"] is True  # the user's BatchNorm is re-estimated
    with pytest.raises(ValueError, match="not a torch.nn.Module"):
        train(cfg.replace(model="tests.qopt.user_model:not_a_module", model_args={}),
              tmp_path / "s")
    with pytest.raises(ValueError, match="constructor contract"):
        train(cfg.replace(model_args={"depth": 3}), tmp_path / "t")


def test_phase2_lr_drop_is_tied_to_the_methods_phase2_epoch():
    f = EpochFactor("cosine", 10, phase2_epoch=6, phase2_scale=0.1)
    for e in range(10):
        want = 0.5 * (1 + math.cos(math.pi * e / 10)) * (0.1 if e >= 6 else 1.0)
        assert f(e) == pytest.approx(want, rel=1e-15)
    cfg = TrainConfig.from_dict({**TINY, "epochs": 4, "method": "binaryrelax",
                                 "weights": "binary", "schedule": "constant",
                                 "phase2_lr_scale": 0.1,
                                 "method_args": {"growth": 2.0, "phase2_at": 2}}).validate()
    model = build_model_for(cfg, load_digits())
    opt, sched = build_optimizer(cfg, model, steps_per_epoch=6)
    from qopt.train.methods import phase2_epoch

    assert phase2_epoch(opt) == 2
    lrs = []
    for _ in range(4):
        lrs.append(opt.param_groups[0]["lr"])
        sched.step()
    assert lrs == pytest.approx([0.05, 0.05, 0.005, 0.005])
    # a float run has no phases: no drop
    fopt, fsched = build_optimizer(cfg.replace(method="float", weights=None, method_args={}),
                                   build_model_for(cfg.replace(method="float", weights=None,
                                                               method_args={}), load_digits()))
    for _ in range(3):
        fsched.step()
    assert fopt.param_groups[0]["lr"] == pytest.approx(0.05)
