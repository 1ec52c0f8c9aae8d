"""End to end through the CLI: a 2-epoch study on tiny data, an interrupted (and a killed)
study resumed without recomputing finished runs and with the same table, a killed training
run resumed to the same final weights, and bad configs failing before any training."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from qopt.cli import main
from qopt.train import TrainConfig, train

STUDY = """
[study]
name = "tiny"
workers = 2
threads_per_worker = 1

[base]
dataset = "digits"
model = "cnn2d"
model_args = { channels = [4, 8] }
epochs = 2
batch_size = 128
lr = 0.05
diag_every = 5
log_every = 5

[grid]
method = ["float", "binaryconnect", "bcgd"]
weights = ["binary"]
seed = [0, 1]

[methods.bcgd]
method_args = { rho = 1e-3 }
"""
N_RUNS = 6  # (float + 2 methods x 1 set) x 2 seeds


def _rows(study_dir: Path) -> list[dict]:
    rows = json.loads((study_dir / "results.json").read_text())["rows"]
    return [{k: v for k, v in r.items() if k != "wall_s_mean"} for r in rows]


def _mtimes(study_dir: Path) -> dict[str, int]:
    return {p.parent.name: p.stat().st_mtime_ns for p in study_dir.glob("runs/*/result.json")}


@pytest.fixture(scope="module")
def study_file(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("cfg") / "tiny.toml"
    p.write_text(STUDY)
    return p


@pytest.fixture(scope="module")
def full_study(study_file, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("full") / "study"
    assert main(["study", str(study_file), "--out", str(out)]) == 0
    return out


def test_two_epoch_study_end_to_end(full_study, capsys):
    rows = _rows(full_study)
    assert len(rows) == 3 and all(r["n_seeds"] == 2 for r in rows)
    assert {r["method"] for r in rows} == {"float", "binaryconnect", "bcgd"}
    assert all(0.0 < r["test_acc_mean"] <= 1.0 for r in rows)
    curves = json.loads((full_study / "curves.json").read_text())
    assert len(curves) == N_RUNS and all(len(c["test_acc"]) == 2 for c in curves.values())
    csv = (full_study / "results.csv").read_text().splitlines()
    assert len(csv) == 4 and csv[0].startswith("method,weights,n_seeds")
    assert (full_study / "study.toml").exists()
    # rerun: nothing recomputed, the table is printed with the results path
    before = _mtimes(full_study)
    assert main(["study", str(full_study / "study.toml"), "--out", str(full_study)]) == 0
    out = capsys.readouterr().out
    assert "0 to run" in out and "results:" in out and "binaryconnect" in out
    assert _mtimes(full_study) == before


def test_interrupted_study_resumes_without_recomputing(study_file, full_study, tmp_path):
    out = tmp_path / "study"
    assert main(["study", str(study_file), "--out", str(out), "--max-runs", "2"]) == 0
    first = _mtimes(out)
    assert len(first) == 2
    assert main(["study", str(study_file), "--out", str(out)]) == 0
    after = _mtimes(out)
    assert len(after) == N_RUNS
    assert {k: after[k] for k in first} == first  # finished runs untouched
    assert _rows(out) == _rows(full_study)  # same table as the uninterrupted study


def test_killed_study_continues(study_file, full_study, tmp_path):
    out = tmp_path / "study"
    proc = subprocess.Popen([sys.executable, "-m", "qopt", "study", str(study_file), "--out",
                             str(out), "--workers", "1"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline and not list(out.glob("runs/*/result.json")):
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the study and its worker, mid-way
    proc.wait()
    first = _mtimes(out)
    assert 1 <= len(first) < N_RUNS
    assert main(["study", str(study_file), "--out", str(out)]) == 0
    after = _mtimes(out)
    assert {k: after[k] for k in first} == first and len(after) == N_RUNS
    assert _rows(out) == _rows(full_study)


def test_killed_training_resumes_to_the_same_weights(tmp_path):
    args = dict(dataset="digits", model="cnn2d", model_args={"channels": [4, 8]},
                method="bcgd", weights="ternary", epochs=12, batch_size=64, lr=0.05,
                num_threads=1, log_every=0, diag_every=0)
    flags = []
    for k, v in args.items():
        flags += ["--" + k.replace("_", "-"),
                  json.dumps(v).replace('"channels": ', "channels=").replace('"', "'")
                  if isinstance(v, dict) else str(v)]
    run_dir = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "qopt", "train", *flags, "--out",
                             str(run_dir)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline and not (run_dir / "checkpoint.pt").exists():
        time.sleep(0.01)
    time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (run_dir / "result.json").exists(), "finished before the kill: make it longer"
    assert main(["train", *flags, "--out", str(run_dir)]) == 0
    ref = train(TrainConfig.from_dict(args), tmp_path / "ref", resume=False)
    a, b = torch.load(run_dir / "model.pt"), torch.load(tmp_path / "ref" / "model.pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    res = json.loads((run_dir / "result.json").read_text())
    assert res["final"]["test_acc"] == ref["final"]["test_acc"]


@pytest.mark.parametrize("argv,match", [
    (["train", "--method", "adamw"], "method must be one of"),
    (["train", "--model", "lenet9"], "model must be one of"),
    (["train", "--method", "bcgd", "--weights", "uniform:0"], "bits"),
    (["train", "--dataset", "cifar10", "--data-dir", "/no/such"], "/no/such"),
    (["study", "{toml}"], "malformed TOML"),
    (["study", "{grid}"], "method must be one of"),
    (["study", "no_such_preset"], "neither a study file nor a preset"),
])
def test_bad_configs_fail_before_training(tmp_path, capsys, argv, match):
    (tmp_path / "bad.toml").write_text("[grid\nseed=[0]")
    (tmp_path / "grid.toml").write_text("[grid]\nmethod = ['float', 'sgdx']\n")
    argv = [a.replace("{toml}", str(tmp_path / "bad.toml"))
            .replace("{grid}", str(tmp_path / "grid.toml")) for a in argv]
    out = tmp_path / "out"
    assert main([*argv, "--out", str(out)]) == 2
    assert match in capsys.readouterr().err
    assert not out.exists()


def test_train_without_a_terminal_prints_one_line_per_epoch(tmp_path, capsys):
    """Issue 15: ``qopt train > log`` (stderr not a terminal, as under pytest's capture) is never
    silent: one line per epoch on stderr, numbered k/epochs, and the result on stdout."""
    argv = ["train", "--dataset", "digits", "--model", "cnn2d", "--model-args",
            "channels=[4,8]", "--epochs", "3", "--batch-size", "128", "--num-threads", "1",
            "--out", str(tmp_path / "run")]
    assert main(argv) == 0
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if "] epoch " in ln]
    assert [ln.split("] epoch ")[1].split(":")[0] for ln in lines] == ["1/3", "2/3", "3/3"]
    assert all("val_acc" in ln and "train_loss" in ln for ln in lines)
    argv[-1] = str(tmp_path / "quiet")
    assert main([*argv, "--no-progress"]) == 0  # switched off: no bar, no lines
    assert "] epoch " not in capsys.readouterr().err


def test_nonfinite_skip_does_not_finish_with_nan_batchnorm_statistics(tmp_path, capsys):
    """`--nonfinite skip` skips the optimizer step of a bad gradient, but that step's forward pass
    has already written NaN into the BatchNorm running statistics: the run used to finish with
    exit 0, `train_loss nan` and a NaN model.pt. Now the epoch's end check stops it (exit 1),
    naming the buffer, and nothing after the last good checkpoint is saved."""
    run_dir = tmp_path / "nfs"
    argv = ["train", "--method", "bcgd", "--weights", "binary", "--lr", "1e30", "--nonfinite",
            "skip", "--epochs", "2", "--dataset-args", "num_samples=600", "--num-threads", "1",
            "--out", str(run_dir)]
    with pytest.warns(RuntimeWarning, match="skipped"):
        assert main(argv) == 1
    err = capsys.readouterr().err
    assert "training diverged: non-finite model state" in err and "running_" in err
    assert not (run_dir / "result.json").exists() and not (run_dir / "model.pt").exists()
