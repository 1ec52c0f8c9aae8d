"""Studies lose only what died (issue 18 item 8): ``kill -9`` of one ``qopt study`` worker
fails the run it held, and only that run; the other worker, the queued runs and a fresh
worker that replaces the dead one go on; the failed run's ``error.txt`` is removed once a
rerun finishes it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qopt.study.backends.local import death_message

#: one slow run (6 steps x 0.5 s) and four quick ones, two workers
STUDY = """
[study]
name = "death"
workers = 2
threads_per_worker = 1

[base]
dataset = "digits"
model = "tests.qopt.user_model:SlowNet"
epochs = 1
batch_size = 256
lr = 0.05
diag_every = 0
log_every = 0

[grid]
method = ["float"]
seed = [0, 1, 2, 3, 4]
"""


def _lock_pid(run_dir: Path) -> int | None:
    try:
        return int(json.loads((run_dir / ".lock").read_text() or "{}")["pid"])
    except (OSError, ValueError, KeyError):
        return None


def test_death_message_names_the_signal():
    assert "killed by SIGKILL" in death_message(-9)
    assert "exit code 3" in death_message(3)
    assert "other runs were not affected" in death_message(-9)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="kill -9 of a worker")
def test_kill_9_of_one_worker_fails_only_the_run_it_held(tmp_path):
    text = STUDY.replace("seed = [0, 1, 2, 3, 4]",
                         "seed = [0, 1, 2, 3, 4]\nmodel_args = [{sleep = 0.0}, {sleep = 0.5}]")
    f = tmp_path / "s.toml"
    f.write_text(text)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    cmd = [sys.executable, "-m", "qopt", "study", str(f), "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env=env)
    killed = None
    try:
        deadline = time.time() + 240
        while time.time() < deadline and killed is None:
            for d in sorted(out.glob("runs/*sleep0.5*")):
                pid = _lock_pid(d)
                if pid is not None and pid != proc.pid and not (d / "result.json").exists():
                    os.kill(pid, signal.SIGKILL)
                    killed = d.name
                    break
            time.sleep(0.05)
        assert killed is not None, "no slow run was seen training"
        stdout, stderr = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 1, stdout + stderr
    runs = sorted(p.name for p in (out / "runs").iterdir())
    assert len(runs) == 10
    failed = [r for r in runs if (out / "runs" / r / "error.txt").exists()]
    assert failed == [killed], stdout
    assert "killed by SIGKILL" in (out / "runs" / killed / "error.txt").read_text()
    assert all((out / "runs" / r / "result.json").exists() for r in runs if r != killed)
    assert "1 run(s) failed" in stdout + stderr
    # the rerun resumes the killed run alone, finishes it and removes its error.txt
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "9 finished, 1 to run" in r.stdout
    assert (out / "runs" / killed / "result.json").exists()
    assert not (out / "runs" / killed / "error.txt").exists()


def test_a_stale_error_of_a_finished_run_is_removed(tmp_path):
    """A run finished outside the study (``qopt train`` on its directory) after it failed
    there: the next study call removes the stale error.txt and reruns nothing."""
    from qopt.study import parse_toml, run_study, study_from_dict

    study = study_from_dict(parse_toml(STUDY.replace("seed = [0, 1, 2, 3, 4]", "seed = [0]")
                                       .replace("tests.qopt.user_model:SlowNet", "mlp")))
    out = tmp_path / "out"
    res = run_study(study, out, stream=open(os.devnull, "w"))  # noqa: SIM115
    assert res["n_done"] == 1
    err = out / "runs" / study.cells[0].run_id / "error.txt"
    err.write_text("worker process died (killed by SIGKILL)\n")
    res = run_study(study, out, stream=open(os.devnull, "w"))  # noqa: SIM115
    assert res["n_ran"] == 0 and not err.exists()
