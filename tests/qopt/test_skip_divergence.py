"""Never a silent exit 0 after divergence (issue 18 item 4): under ``nonfinite = "skip"`` a run
that skips more than ``max_skip_frac`` of its steps, or ends with a non-finite loss, is a
diverged run (exit 1, no ``result.json``), and the final line always gives the skip count."""

import json

import pytest

from qopt.cli import main
from qopt.train import TrainConfig, TrainingDiverged, train
from qopt.train.divergence import check_skip_share
from qopt.train.identity import identity

#: digits has 1437 training samples; with 1% of them held out for validation (val_frac = 0.01)
#: 1423 are fitted: 12 steps per epoch at batch 128, 24 in 2 epochs
SPIKY = dict(dataset="digits", model="tests.qopt.user_model:SpikyNet", epochs=2, val_frac=0.01,
             batch_size=128, lr=0.05, log_every=0, diag_every=0, num_threads=1,
             method="binaryconnect", weights="binary", keep_float=[], nonfinite="skip")
REPRO = ["train", "--nonfinite", "skip", "--lr", "1e30", "--method", "bcgd", "--weights",
         "ternary", "--model", "mlp", "--dataset", "digits", "--epochs", "2", "--num-threads",
         "1", "--log-every", "0", "--diag-every", "0", "--val-frac", "0.01"]


def test_share_rule_is_strictly_more_than_the_fraction_of_planned_steps():
    check_skip_share(8, 80, 0.1, 40, 1, None)  # exactly 10% is allowed
    with pytest.raises(TrainingDiverged, match=r"max_skip_frac = 0.1 .*; 9 of 40 steps skipped"):
        check_skip_share(9, 80, 0.1, 40, 1, None)
    check_skip_share(0, 80, 0.0, 40, 1, None)
    with pytest.raises(TrainingDiverged):
        check_skip_share(1, 80, 0.0, 40, 1, None)


def test_reproducer_lr_1e30_ends_with_exit_1_and_the_count(tmp_path, capsys):
    """The issue's reproducer used to exit 0 with train_loss nan after 23 of 24 steps were
    skipped; now it stops after the first epoch (the share can no longer be met)."""
    with pytest.warns(RuntimeWarning, match="skipped"):
        rc = main([*REPRO, "--out", str(tmp_path / "r")])
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("qopt train")]
    assert rc == 1 and len(err) == 1, err
    assert "training diverged: more than max_skip_frac = 0.1 of the run's 24 steps" in err[0]
    assert "11 of 12 steps skipped (nonfinite=skip)" in err[0]
    assert not (tmp_path / "r" / "result.json").exists()


def test_non_finite_final_loss_is_divergence_even_when_skips_are_allowed(tmp_path, capsys):
    with pytest.warns(RuntimeWarning, match="skipped"):
        rc = main([*REPRO, "--max-skip-frac", "1", "--out", str(tmp_path / "r")])
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("qopt train")]
    assert rc == 1 and len(err) == 1, err
    assert "non-finite final loss (test_loss nan, train_loss nan)" in err[0]
    assert "23 of 24 steps skipped" in err[0] and "after epoch 1" in err[0]
    assert not (tmp_path / "r" / "result.json").exists()
    assert not (tmp_path / "r" / "model.pt").exists()
    # the rerun resumes after the last epoch and comes to the same verdict
    assert main([*REPRO, "--max-skip-frac", "1", "--out", str(tmp_path / "r")]) == 1


def test_few_skipped_steps_finish_and_say_how_many(tmp_path, capsys):
    """SpikyNet(every=12): steps 12 and 24 of 24 are NaN = 8.3% <= 10%: the run finishes and
    every record counts them; every=6 (4 of 24 = 16.7%) diverges at epoch 1's end."""
    with pytest.warns(RuntimeWarning, match="skipped"):
        res = train(TrainConfig.from_dict(SPIKY), tmp_path / "ok")
    assert res["skipped_steps"] == 2 and res["steps"] == 24
    assert [h["nonfinite_steps"] for h in res["history"]] == [1, 1]
    assert json.loads((tmp_path / "ok" / "result.json").read_text())["skipped_steps"] == 2
    rc = main(["train", "--config", str(tmp_path / "ok"), "--out", str(tmp_path / "ok")])
    out = capsys.readouterr().out.splitlines()
    assert rc == 0 and "2 of 24 steps skipped (nonfinite=skip)" in out[0], out
    bad = TrainConfig.from_dict({**SPIKY, "model_args": {"every": 6}})
    with pytest.raises(TrainingDiverged, match="4 of 24 steps skipped") as ei:
        with pytest.warns(RuntimeWarning):
            train(bad, tmp_path / "bad")
    assert ei.value.skipped == (4, 24) and ei.value.epoch == 1
    assert not (tmp_path / "bad" / "result.json").exists()
    # allowing more is another run (max_skip_frac is part of a skip run's identity): it finishes
    with pytest.warns(RuntimeWarning):
        assert train(bad.replace(max_skip_frac=0.2), tmp_path / "bad2")["skipped_steps"] == 4


def test_max_skip_frac_is_identity_only_of_skip_runs():
    raise_run = TrainConfig(method="bcgd", weights="binary").to_dict()
    assert "max_skip_frac" not in identity(raise_run)
    skip_run = {**raise_run, "nonfinite": "skip"}
    assert identity(skip_run)["max_skip_frac"] == 0.1
    with pytest.raises(ValueError, match="max_skip_frac must be a share in"):
        TrainConfig(method="bcgd", weights="binary", nonfinite="skip",
                    max_skip_frac=1.5).validate()
