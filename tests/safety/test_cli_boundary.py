"""The CLI's error boundary: Ctrl-C exits 130 with a line saying how to resume (and the resume
works); user errors are one line, exit 2; bugs keep their traceback; QOPT_TRACEBACK=1 shows it
for user errors too."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from qopt import cli

ARGS = ["train", "--dataset", "digits", "--model", "cnn2d", "--model-args", "{channels=[4, 8]}",
        "--method", "bcgd", "--weights", "ternary", "--epochs", "40", "--batch-size", "64",
        "--num-threads", "1", "--log-every", "0", "--diag-every", "0"]


def _env():
    return dict(os.environ, PYTHONPATH=os.getcwd())


def test_ctrl_c_exits_130_saying_how_to_resume(tmp_path):
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "qopt", *ARGS, "--out", str(run)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=_env())
    deadline = time.time() + 120
    while time.time() < deadline and not (run / "checkpoint.pt").exists():
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "interrupted; rerun the same command to resume" in err.strip().splitlines()[-1]
    assert (run / "checkpoint.pt").exists() and not (run / "result.json").exists()
    # the lock died with the process: the rerun resumes (stopped early here to stay quick)
    from qopt.train import TrainConfig, train
    from qopt.train.checkpoint import load_checkpoint

    epoch = load_checkpoint(run)["epoch"]
    cfg = TrainConfig.from_dict(dict(dataset="digits", model="cnn2d",
                                     model_args={"channels": [4, 8]}, method="bcgd",
                                     weights="ternary", epochs=40, batch_size=64, num_threads=1,
                                     log_every=0, diag_every=0))
    assert train(cfg, run, resume=True, stop_after_epochs=1) is None
    assert load_checkpoint(run)["epoch"] == epoch + 1


def _raiser(exc: BaseException):
    def run(args):
        raise exc
    return run


@pytest.mark.parametrize("exc,code,fragment", [
    (ValueError("lr must be > 0,\n  got -1"), 2, "error: lr must be > 0, got -1"),
    (TypeError("axis must be an int"), 2, "error: axis must be an int"),
    (FileNotFoundError(2, "No such file or directory", "x.toml"), 2, "No such file"),
    (FloatingPointError("non-finite gradient at step 7 in fc.weight"), 1,
     "failed: non-finite gradient at step 7"),
    (KeyboardInterrupt(), 130, "interrupted; rerun the same command to resume"),
])
def test_user_errors_are_one_line(monkeypatch, capsys, exc, code, fragment):
    monkeypatch.setattr("qopt.commands.train.run", _raiser(exc))
    assert cli.main(["train"]) == code
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and fragment in err, err


@pytest.mark.parametrize("exc", [RuntimeError("bug"), KeyError("step"), AssertionError(),
                                 IndexError("list index out of range"), AttributeError("x")])
def test_internal_errors_keep_their_traceback(monkeypatch, exc):
    monkeypatch.setattr("qopt.commands.train.run", _raiser(exc))
    with pytest.raises(type(exc)):
        cli.main(["train"])


def test_qopt_traceback_shows_user_error_tracebacks(monkeypatch):
    monkeypatch.setattr("qopt.commands.train.run", _raiser(ValueError("bad")))
    monkeypatch.setenv("QOPT_TRACEBACK", "1")
    with pytest.raises(ValueError, match="bad"):
        cli.main(["train"])


def test_qopt_warnings_are_one_line(monkeypatch, capsys):
    import warnings

    from qopt.train.checkpoint import CheckpointWarning

    def warn(args):
        warnings.warn("resuming from checkpoint.prev.pt", CheckpointWarning, stacklevel=1)
        return 0

    monkeypatch.setattr("qopt.commands.train.run", warn)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert cli.main(["train"]) == 0
    assert capsys.readouterr().err.strip() == "qopt: warning: resuming from checkpoint.prev.pt"
