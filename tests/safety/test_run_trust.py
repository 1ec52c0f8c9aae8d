"""Issue 18, item 2: identity reaches every file a run reads.

* A checkpoint records the run's identity: a checkpoint (current or previous) of another run is
  refused with exit 2 naming both identities, the differing fields and the run directory; the
  optimizer and scheduler hyperparameters inside a checkpoint are checked against the run's
  ``config.json`` (a checkpoint whose identity was forged still cannot bring another lr).
* A finished run's files are checked against ``manifest.json`` whenever it is reported (a
  rerun printing the stored result, a study collecting results): damage is one line naming
  the file, exit 2 (the study: the run is failed and kept out of the results), never printed
  as a result, never a traceback, never a hang.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest

from qopt.cli import main
from qopt.train.checkpoint import CHECKPOINT, PREVIOUS, encode_checkpoint, read_checkpoint

BASE = ["train", "--dataset", "digits", "--model", "mlp", "--model-args", "{hidden=[16]}",
        "--method", "bcgd", "--weights", "ternary", "--batch-size", "512", "--epochs", "3",
        "--num-threads", "1", "--no-progress", "--log-every", "0", "--diag-every", "0"]


def _argv(out, lr="0.1", seed="0", *extra):
    return [*BASE, "--lr", lr, "--seed", seed, "--out", str(out), *extra]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Run A (lr 0.1) stopped after 2 of 3 epochs (both checkpoints), runs B (lr 0.5) and
    C (seed 1) likewise, and a finished run F."""
    from qopt.train import TrainConfig, train

    root = tmp_path_factory.mktemp("trust")
    common = {"dataset": "digits", "model": "mlp", "model_args": {"hidden": [16]},
              "method": "bcgd", "weights": "ternary", "batch_size": 512, "epochs": 3,
              "num_threads": 1, "log_every": 0, "diag_every": 0}
    for name, over in (("A", {"lr": 0.1}), ("B", {"lr": 0.5}), ("C", {"lr": 0.1, "seed": 1})):
        cfg = TrainConfig.from_dict({**common, **over})
        assert train(cfg, root / name, resume=False, stop_after_epochs=2, progress=False) is None
    assert main(_argv(root / "F")) == 0
    return root


def _copy(runs, name, tmp_path):
    dst = tmp_path / name
    shutil.copytree(runs / name, dst)
    return dst


def _one_error_line(capsys):
    cap = capsys.readouterr()
    lines = [ln for ln in cap.err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in cap.err, cap.err
    return lines[0], cap.out


@pytest.mark.parametrize("other,field", [("B", "lr (0.1 -> 0.5)"), ("C", "seed (0 -> 1)")])
@pytest.mark.parametrize("which", ["both", "current", "previous"])
def test_checkpoint_of_another_run_is_refused(runs, tmp_path, capsys, other, field, which):
    """The reproducer: B's checkpoints copied into A; A's command exits 2 naming both
    identities, the field and the run directory, and writes nothing."""
    a = _copy(runs, "A", tmp_path)
    names = {"both": (CHECKPOINT, PREVIOUS), "current": (CHECKPOINT,),
             "previous": (PREVIOUS,)}[which]
    for n in names:
        shutil.copy(runs / other / n, a / n)
    ours = json.loads((a / "config.json").read_text())["config_hash"]
    theirs = json.loads((runs / other / "config.json").read_text())["config_hash"]
    before = {p.name: p.read_bytes() for p in a.iterdir()}
    seed = "0"
    assert main(_argv(a, "0.1", seed)) == 2
    line, out = _one_error_line(capsys)
    assert "checkpoint of another run" in line and ours in line and theirs in line, line
    assert field in line and str(a) in line, line
    assert not (a / "result.json").exists() and out == ""
    assert {p.name: p.read_bytes() for p in a.iterdir()} == before


def test_checkpoint_without_identity_is_refused(runs, tmp_path, capsys):
    a = _copy(runs, "A", tmp_path)
    for n in (CHECKPOINT, PREVIOUS):
        state = read_checkpoint(a / n)
        del state["identity"]
        (a / n).write_bytes(encode_checkpoint(state))
    assert main(_argv(a)) == 2
    line, _ = _one_error_line(capsys)
    assert "records no run identity" in line and "--no-resume" in line, line


def test_forged_identity_cannot_bring_other_hyperparameters(runs, tmp_path, capsys):
    """B's checkpoints relabelled with A's identity (valid checksums): the optimizer's and the
    scheduler's values inside are compared with A's config.json and refused."""
    a = _copy(runs, "A", tmp_path)
    ident = read_checkpoint(runs / "A" / CHECKPOINT)["identity"]
    for n in (CHECKPOINT, PREVIOUS):
        state = read_checkpoint(runs / "B" / n)
        state["identity"] = ident
        (a / n).write_bytes(encode_checkpoint(state))
    assert main(_argv(a)) == 2
    line, _ = _one_error_line(capsys)
    assert "hyperparameters are not those of this run's config.json" in line, line
    assert "initial_lr (0.5 in the checkpoint, 0.1 here)" in line, line


def test_own_checkpoints_resume(runs, tmp_path, capsys):
    a = _copy(runs, "A", tmp_path)
    assert main(_argv(a)) == 0
    assert "[finished earlier" not in capsys.readouterr().out
    assert (a / "manifest.json").is_file()


def _edit_result(d):
    p = d / "result.json"
    res = json.loads(p.read_text())
    res["final"]["test_acc"] = 0.999
    p.write_text(json.dumps(res, indent=2) + "\n")  # valid JSON


def _flip_model(d):
    data = bytearray((d / "model.pt").read_bytes())
    data[len(data) // 2] ^= 1
    (d / "model.pt").write_bytes(bytes(data))


DAMAGE = {
    "result-edited": (_edit_result, "result.json"),
    "result-truncated": (lambda d: (d / "result.json").write_bytes(
        (d / "result.json").read_bytes()[:100]), "result.json"),
    "result-empty-object": (lambda d: (d / "result.json").write_text("{}"), "result.json"),
    "result-fifo": (lambda d: ((d / "result.json").unlink(), os.mkfifo(d / "result.json")),
                    "result.json"),
    "model-deleted": (lambda d: (d / "model.pt").unlink(), "model.pt"),
    "model-changed": (_flip_model, "model.pt"),
    "quantized-deleted": (lambda d: (d / "quantized.pt").unlink(), "quantized.pt"),
    "manifest-deleted": (lambda d: (d / "manifest.json").unlink(), "manifest.json"),
    "manifest-garbage": (lambda d: (d / "manifest.json").write_text("{garbage"),
                         "manifest.json"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_finished_run_is_named_never_printed(runs, tmp_path, capsys, damage):
    f = _copy(runs, "F", tmp_path)
    do, name = DAMAGE[damage]
    do(f)
    assert main(_argv(f)) == 2
    line, out = _one_error_line(capsys)
    assert name in line and str(f) in line, line
    assert out == "" and "test_acc" not in line


def test_intact_finished_run_prints_the_stored_result(runs, tmp_path, capsys):
    f = _copy(runs, "F", tmp_path)
    assert main(_argv(f)) == 0
    assert "[finished earlier: stored result]" in capsys.readouterr().out


def test_study_marks_a_damaged_run_and_keeps_it_out_of_the_results(tmp_path):
    import io

    from qopt.study import load_study_file, run_study

    spec = tmp_path / "s.toml"
    spec.write_text("[study]\nname = 'trust'\nworkers = 1\n[base]\ndataset = 'digits'\n"
                    "model = 'mlp'\nmodel_args = {hidden = [8]}\nepochs = 1\nbatch_size = 512\n"
                    "log_every = 0\ndiag_every = 0\n[grid]\nseed = [0, 1]\n")
    out = tmp_path / "out"
    first = run_study(load_study_file(spec), out, stream=io.StringIO())
    assert first["n_done"] == 2 and not first["failed"]
    victim = sorted((out / "runs").iterdir())[0]
    _edit_result(victim)
    log = io.StringIO()
    again = run_study(load_study_file(spec), out, stream=log)
    assert list(again["failed"]) == [victim.name], again["failed"]
    assert "result.json" in again["failed"][victim.name] and "damaged" in log.getvalue()
    assert again["n_done"] == 1 and again["n_ran"] == 0  # nothing recomputed
    rows = json.loads((out / "results.json").read_text())
    text = json.dumps(rows)
    assert "0.999" not in text


def test_init_from_a_damaged_finished_run_is_refused(runs, tmp_path, capsys):
    """A run directory named by ``--init-from`` is a finished run read by another run: its
    files are checked against its manifest before its model.pt is used."""
    f = _copy(runs, "F", tmp_path)
    _flip_model(f)
    argv = [*BASE, "--init-from", str(f), "--out", str(tmp_path / "child")]
    assert main(argv) == 2
    line, _ = _one_error_line(capsys)
    assert "model.pt" in line and "changed after the run finished" in line, line


def test_reproduce_reads_no_damaged_run(runs, tmp_path):
    """``qopt reproduce`` reads finished runs through the same check: a damaged one is a
    failure of that run (named), never a record of the claim."""
    from qopt.reproduce.staged import _finished
    from qopt.train.manifest import RunDamaged, read_finished_run

    f = _copy(runs, "F", tmp_path)
    failed: dict[str, str] = {}
    assert _finished(f, "F", failed)["config_hash"] and not failed
    _edit_result(f)
    assert _finished(f, "F", failed) is None
    assert "result.json" in failed["F"] and "damaged" in failed["F"]
    assert _finished(tmp_path / "absent", "X", failed) is None and "X" not in failed
    with pytest.raises(RunDamaged, match="result.json"):
        read_finished_run(f)
