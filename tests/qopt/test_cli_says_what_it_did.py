"""The CLI says what it did (issue 23): a resumed run says from where; a study reports elapsed
time and an ETA; a changed study lists the runs no longer in it and reuses, instead of
retraining, a finished run of the same identity under another id; ``--set`` on a grid key is an
error showing the grid syntax; a run that fails validation leaves no empty directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qopt.cli import main
from qopt.study.runner import progress_times
from qopt.train import TrainConfig, train

TINY = {"dataset": "mnist1d", "dataset_args": {"num_samples": 300}, "model": "cnn1d",
        "model_args": {"channels": 4, "depth": 1}, "batch_size": 100}
TRAIN = ["train", "--dataset", "mnist1d", "--model", "cnn1d", "--batch-size", "100",
         "--set", "dataset_args={num_samples=300}", "--set", "model_args={channels=4,depth=1}"]

STUDY = """
[study]
name = "says"
workers = 1
threads_per_worker = 1

[base]
dataset = "mnist1d"
dataset_args = { num_samples = 300 }
model = "cnn1d"
model_args = { channels = 4, depth = 1 }
batch_size = 100
epochs = 1
method = "float"
{base_extra}

[grid]
{grid_extra}
seed = [0, 1]
"""


def _study(tmp_path: Path, name: str, base_extra: str = "", grid_extra: str = "") -> Path:
    f = tmp_path / name
    f.write_text(STUDY.replace("{base_extra}", base_extra).replace("{grid_extra}", grid_extra))
    return f


def test_progress_times_eta_from_the_finished_runs():
    assert progress_times(60.0, 2, 5) == "elapsed 1 min 00 s, ETA 1 min 30 s"
    assert progress_times(12.4, 1, 1) == "elapsed 12 s"  # nothing left: no ETA
    assert progress_times(7300.0, 1, 2) == "elapsed 2 h 01 min, ETA 2 h 01 min"


def test_resumed_train_says_from_which_epoch_and_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    cfg = TrainConfig.from_dict({**TINY, "epochs": 3, "method": "binaryrelax",
                                 "weights": "binary"})
    assert train(cfg, out, stop_after_epochs=1, progress=False) is None
    capsys.readouterr()
    assert main([*TRAIN, "--epochs", "3", "--method", "binaryrelax", "--weights", "binary",
                 "--out", str(out)]) == 0
    err = capsys.readouterr().err.splitlines()
    first = next(ln for ln in err if ln.strip())
    assert first == (f"resuming {str(out)!r} from epoch 1/3 (1 done, next: epoch 2; step 3), "
                     f"checkpoint {out / 'checkpoint.pt'}"), err
    epochs = [ln for ln in err if "] epoch " in ln]
    assert epochs and epochs[0].split("] epoch ")[1].startswith("2/3")


def test_study_progress_changed_grid_and_reuse(tmp_path, capsys):
    out = tmp_path / "study"
    first = _study(tmp_path, "a.toml", grid_extra="lr = [0.1, 0.05]")
    assert main(["study", str(first), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    lines = [ln for ln in text.splitlines() if ln.strip().startswith("[") and "/4]" in ln]
    assert len(lines) == 4
    assert all("elapsed" in ln for ln in lines) and all("ETA" in ln for ln in lines[:3])
    assert "ETA" not in lines[3]
    old = {p.name: (p / "result.json").read_bytes() for p in (out / "runs").iterdir()}
    assert sorted(old) == ["lr0.05_seed0", "lr0.05_seed1", "lr0.1_seed0", "lr0.1_seed1"]

    # --set on a grid key: an error that shows the grid syntax; nothing changes on disk
    assert main(["study", str(first), "--out", str(out), "--set", "lr=0.05"]) == 2
    err = capsys.readouterr().err
    assert "'lr' is a [grid] key" in err and "grid.lr=[0.05]" in err
    assert len(err.strip().splitlines()) == 1

    # the grid list changes: lr 0.05 is dropped, lr fixed in [base]; the new cells (ids
    # seed0, seed1) have the identity of the finished lr0.1 runs: reused, not retrained, and
    # every directory no longer in the study is listed and left as it was
    second = _study(tmp_path, "b.toml", base_extra="lr = 0.1")
    assert main(["study", str(second), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "4 run directories in" in text and "no longer part of this study" in text
    for rid in old:
        assert rid in text
    for new, src in (("seed0", "lr0.1_seed0"), ("seed1", "lr0.1_seed1")):
        assert f"[=] {new}: reused finished run {src}" in text
        assert (out / "runs" / new / "result.json").read_bytes() == old[src]
    assert "0 to run" in text and "2/2 runs finished" in text
    assert not [ln for ln in text.splitlines() if "/2]" in ln]  # nothing trained
    for rid, data in old.items():  # untouched
        assert (out / "runs" / rid / "result.json").read_bytes() == data
    curves = json.loads((out / "curves.json").read_text())
    assert sorted(curves) == ["seed0", "seed1"]  # the results cover the study's runs only


def test_failed_validation_leaves_no_empty_run_directory(tmp_path, capsys, monkeypatch):
    out = tmp_path / "bad-axis"
    assert main([*TRAIN, "--epochs", "1", "--method", "binaryrelax", "--weights", "binary",
                 "--axis", "5", "--out", str(out)]) == 2
    assert "axis" in capsys.readouterr().err
    assert not out.exists()
    # an optional package missing while the run is built: the same
    import qopt.train.trainer as trainer

    def missing(self):
        raise ModuleNotFoundError("No module named 'torchvision'", name="torchvision")

    monkeypatch.setattr(trainer._Run, "build", missing)
    out = tmp_path / "missing-package"
    with pytest.raises(ModuleNotFoundError):
        train(TrainConfig.from_dict({**TINY, "epochs": 1}), out, progress=False)
    assert not out.exists()
    # a directory that existed before (a resumable run) is never removed
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ModuleNotFoundError):
        train(TrainConfig.from_dict({**TINY, "epochs": 1}), out, progress=False)
    assert (out / "notes.txt").read_text() == "mine"
