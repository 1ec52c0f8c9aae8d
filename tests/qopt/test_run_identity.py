"""Run identity (issue 10 item 1): every setting that changes a run's numbers is part of its
identity; a run directory holding another identity is refused (never a stale result); a run's
own config.json reruns it exactly. Includes the issue's reproducers."""

import json
import os

import pytest
import torch

from qopt.cli import main
from qopt.train import RunConflict, TrainConfig, train
from qopt.train.identity import EXECUTION_FIELDS, LOCATION_FIELDS, config_diff, identity
from qopt.train.record import default_run_name, run_record

TINY = dict(dataset="digits", model="mlp", model_args={"hidden": [16]}, epochs=1,
            batch_size=256, lr=0.05, log_every=0, diag_every=0, num_threads=1)
FLAGS = ["--dataset", "digits", "--model", "mlp", "--model-args", "hidden=[16]",
         "--batch-size", "256", "--num-threads", "1", "--log-every", "0", "--diag-every", "0"]


def _same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_reproducer_lr_and_epochs_get_their_own_run_directories(tmp_path, monkeypatch, capsys):
    """`qopt train --method bcgd --weights ternary --epochs 2`, then the same with --lr 0.01
    and with --epochs 1: three runs, three directories, three results (the bug: one
    directory, the first result printed three times)."""
    monkeypatch.chdir(tmp_path)
    base = [*FLAGS, "--method", "bcgd", "--weights", "ternary"]
    outs = []
    for extra in (["--epochs", "2"], ["--epochs", "2", "--lr", "0.01"], ["--epochs", "1"]):
        assert main(["train", *base, *extra]) == 0
        outs.append(capsys.readouterr().out)
    dirs = sorted(os.listdir(tmp_path / "runs"))
    assert len(dirs) == 3
    results = [json.loads((tmp_path / "runs" / d / "result.json").read_text()) for d in dirs]
    assert sorted(r["config"]["lr"] for r in results) == [0.01, 0.1, 0.1]
    assert sorted(r["epochs"] for r in results) == [1, 2, 2]
    assert len({r["final"]["train_loss"] for r in results}) == 3
    assert "after 1 epochs" in outs[2] and "stored result" not in outs[2]
    # the same command again returns the stored result of its own directory
    assert main(["train", *base, "--epochs", "1"]) == 0
    assert "finished earlier: stored result" in capsys.readouterr().out


def test_reproducer_existing_run_dir_with_another_config_exits_2(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", *FLAGS, "--method", "bcgd", "--weights", "ternary", "--out", str(out)]
    assert main([*args, "--epochs", "1"]) == 0
    capsys.readouterr()
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert main([*args, "--epochs", "1", "--lr", "0.01"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "lr (0.1 -> 0.01)" in err and "--out" in err
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before  # untouched


def test_train_never_returns_a_stale_result(tmp_path):
    cfg = TrainConfig.from_dict({**TINY, "method": "binaryconnect", "weights": "binary"})
    res = train(cfg, tmp_path, resume=True)
    for change in ({"lr": 0.01}, {"epochs": 2}, {"method_args": {}, "weights": "ternary"},
                   {"bn_recalib_batches": 3}, {"amp": "bf16"}, {"seed": 1}):
        with pytest.raises(RunConflict, match="different configuration") as ei:
            train(cfg.replace(**change), tmp_path, resume=True)
        assert all(k in str(ei.value) for k in change if k != "method_args")
    assert train(cfg, tmp_path, resume=True) == res  # the same identity: the stored result


def test_execution_and_location_fields_are_not_identity_but_recorded(tmp_path):
    cfg = TrainConfig.from_dict({**TINY, "method": "binaryconnect", "weights": "binary"})
    res = train(cfg, tmp_path)
    again = train(cfg.replace(num_threads=2, log_every=5, diag_every=7, compile=False),
                  tmp_path)
    assert again == res
    assert res["execution"][0]["threads"] == 1 and res["execution"][0]["device"] == "cpu"
    a = run_record(cfg)
    for k in EXECUTION_FIELDS:
        assert k not in identity(a)
    for k in LOCATION_FIELDS:
        assert k not in identity(a)
    assert set(identity(a)) >= {"lr", "epochs", "seed", "amp", "method_args", "method_config",
                                "bn_recalib_batches", "init_sha256"}


def test_hash_covers_every_identity_field_and_the_resolved_method():
    cfg = TrainConfig.from_dict({**TINY, "method": "bcgd", "weights": "binary"})
    h0 = run_record(cfg)["config_hash"]
    for change in ({"lr": 0.2}, {"epochs": 3}, {"momentum": 0.5}, {"batch_size": 64},
                   {"method_args": {"rho": 1e-3}}, {"weight_decay": 1e-4}, {"axis": 0},
                   {"keep_float": []}, {"phase2_lr_scale": 0.5}, {"optimizer": "adamw"}):
        assert run_record(cfg.replace(**change))["config_hash"] != h0, change
    for change in ({"num_threads": 4}, {"diag_every": 3}, {"device": "cpu"}):
        assert run_record(cfg.replace(**change))["config_hash"] == h0, change
    # the default rho written out explicitly is the same run (resolved method config)
    assert run_record(cfg.replace(method_args={"rho": 1e-5}))["config_hash"] == h0
    rec = run_record(cfg)
    assert rec["method_config"]["rho"] == 1e-5
    name = default_run_name(cfg, rec)
    assert name.startswith("digits-mlp-bcgd-binary-seed0-") and name.endswith(h0)


def test_config_diff_names_fields_and_treats_missing_as_different():
    a = run_record(TrainConfig.from_dict(TINY))
    b = dict(a, lr=0.5)
    assert config_diff(a, b) == ["lr (0.05 -> 0.5)"]
    old = {k: v for k, v in a.items() if k != "bn_recalib_batches"}
    assert config_diff(old, a) == ["bn_recalib_batches (absent -> 100)"]
    assert config_diff(a, dict(a, num_threads=8, data_dir="/elsewhere")) == []
    bc = run_record(TrainConfig.from_dict({**TINY, "method": "bcgd", "weights": "binary"}))
    bc2 = run_record(TrainConfig.from_dict({**TINY, "method": "bcgd", "weights": "binary",
                                            "method_args": {"rho": 0.01}}))
    assert config_diff(bc, bc2) == ["method_config.rho (1e-05 -> 0.01)"]


def test_own_config_json_is_accepted_and_reruns_the_run_exactly(tmp_path, capsys):
    cfg = TrainConfig.from_dict({**TINY, "method": "binaryrelax", "weights": "ternary",
                                 "epochs": 2, "diag_every": 4,
                                 "method_args": {"lam0": 1.0, "growth": 2.0, "phase2_at": 1}})
    train(cfg, tmp_path / "a")
    stored = json.loads((tmp_path / "a" / "config.json").read_text())
    assert {"data", "world_size", "config_hash", "method_config", "tensors"} <= set(stored)
    assert TrainConfig.from_dict(stored) == cfg
    assert main(["train", "--config", str(tmp_path / "a" / "config.json"), "--out",
                 str(tmp_path / "b")]) == 0
    assert main(["train", str(tmp_path / "a"), "--out", str(tmp_path / "c")]) == 0
    a, b, c = (torch.load(tmp_path / n / "model.pt") for n in "abc")
    assert _same_state(a, b) and _same_state(a, c)
    ra, rb = (json.loads((tmp_path / n / "result.json").read_text()) for n in "ab")
    assert ra["final"] == rb["final"] and ra["config_hash"] == rb["config_hash"]


def test_resume_refuses_other_data_and_init(tmp_path):
    float_cfg = TrainConfig.from_dict(TINY)
    train(float_cfg, tmp_path / "f1")
    train(float_cfg.replace(seed=1), tmp_path / "f2")
    q = TrainConfig.from_dict({**TINY, "method": "binaryconnect", "weights": "binary",
                               "epochs": 2, "init_from": str(tmp_path / "f1")})
    assert train(q, tmp_path / "q", stop_after_epochs=1) is None
    rec = json.loads((tmp_path / "q" / "config.json").read_text())
    assert rec["init"]["config_hash"] == json.loads(
        (tmp_path / "f1" / "config.json").read_text())["config_hash"]
    with pytest.raises(RunConflict, match="init_sha256"):  # other init weights: other run
        train(q.replace(init_from=str(tmp_path / "f2")), tmp_path / "q")
    res = train(q, tmp_path / "q")  # the same init moved elsewhere is the same run
    assert res["epochs"] == 2
