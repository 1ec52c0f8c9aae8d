"""Study backends (issue 15 item 5): ``qopt study --backend local|slurm|ray``.

The property that matters: WHERE runs execute does not change WHAT they compute. A tiny staged
study (a float run, then a BCGD run initialised from it) runs on the local backend, through
submitit's local executor (the slurm backend's code path, interrupted after the parent and
resumed) and on an embedded Ray with 2 CPUs; the results tables, the curves and the trained
weights (sha256 of ``model.pt``) must be identical. The slurm and ray tests need the extras
(``pip install 'qopt[slurm]'`` / ``'qopt[ray]'``, both in ``qopt[test]``) and skip with a reason
naming them otherwise. Also: the runner's side of the backend protocol (stages, failures, runs
"in use" under a live lock elsewhere), the sbatch array script submitit writes for the settings,
and (``-m slow``) the SLURM code path end to end through stand-in ``sbatch``/``srun``. About
30-60 s of wall time on 2 shared cores, most of it process start-up (a submitit job or a Ray
worker imports torch). The settings are tested in ``test_study_backend_options.py``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from qopt.cli import main
from qopt.study import parse_toml, run_study, study_from_dict
from qopt.study.backends import RunSpec, run_remote
from qopt.study.backends.options import backend_from_table, with_overrides
from qopt.train.lock import RunLock
from qopt.train.setup import file_sha256

STAGED = """
[study]
name = "tiny"
workers = 2
threads_per_worker = 1

[base]
dataset = "digits"
model = "mlp"
model_args = { hidden = [16] }
epochs = 1
batch_size = 256
lr = 0.05
diag_every = 0
log_every = 0

[grid]
method = ["float", "bcgd"]
weights = ["binary"]
seed = [0]

[protocol]
init_from = "float"
"""

SLURM_EXTRA = "needs the slurm extra: pip install 'qopt[slurm]'"
RAY_EXTRA = "needs the ray extra: pip install 'qopt[ray]'"


def _fingerprint(d: Path) -> dict:
    """Everything a study computed, without wall-clock times."""
    res = json.loads((d / "results.json").read_text())
    with open(d / "results.csv") as fh:
        header, *lines = [ln.rstrip("\n").split(",") for ln in fh]
    keep = [i for i, h in enumerate(header) if not h.startswith("wall_s")]
    return {
        "csv": [[row[i] for i in keep] for row in [header, *lines]],
        "rows": [{k: v for k, v in r.items() if not k.startswith("wall_s")}
                 for r in res["rows"]],
        "runs": res["runs"],
        "curves": json.loads((d / "curves.json").read_text()),
        "weights": {p.parent.name: file_sha256(p) for p in sorted(d.glob("runs/*/model.pt"))},
    }


@pytest.fixture(scope="module")
def local_study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    base = tmp_path_factory.mktemp("backends")
    f = base / "staged.toml"
    f.write_text(STAGED)
    assert main(["study", str(f), "--out", str(base / "local"), "--backend", "local"]) == 0
    fp = _fingerprint(base / "local")
    assert len(fp["weights"]) == 2 and fp["rows"]
    return f, fp


# --- runs held by a live lock elsewhere are "in use", not failed ------------------------------

def test_run_locked_elsewhere_is_in_use_not_failed_and_a_rerun_finishes_it(tmp_path, capsys,
                                                                          local_study):
    f, expected = local_study
    out = tmp_path / "o"
    st = study_from_dict(parse_toml(f.read_text()))
    with RunLock(out / "runs" / "bcgd_binary_seed0"):  # e.g. a SLURM job of an earlier call
        # the runner's check: not submitted
        with open(tmp_path / "log", "w") as log:
            summary = run_study(st, out, stream=log)
        assert set(summary["in_use"]) == {"bcgd_binary_seed0"} and not summary["failed"]
        assert summary["n_done"] == 1 and not (out / "runs/bcgd_binary_seed0/error.txt").exists()
        assert "in use" in (tmp_path / "log").read_text()
        # the job's own check (the lock taken between the runner's check and the job's start)
        cell = st.cell("bcgd_binary_seed0")
        cfg = cell.config.replace(init_from=str(out / "runs" / "float_none_seed0"))
        res = run_remote(RunSpec(cell.run_id, cfg.to_dict(),
                                 str(out / "runs" / cell.run_id), 1))
        assert "in_use" in res and "in use by pid" in res["in_use"]
    assert main(["study", str(f), "--out", str(out)]) == 0
    assert "1 finished, 1 to run" in capsys.readouterr().out
    assert _fingerprint(out) == expected


def test_a_remote_run_outside_the_shared_file_system_fails_with_a_clear_message(tmp_path):
    res = run_remote(RunSpec("r", {}, "runs/r", 1, str(tmp_path / "not-here")))
    assert "shared" in res["error"] and "not-here" in res["error"]


class ScriptedBackend:
    """A backend whose runs end as scripted (no training): the runner's side of the protocol."""

    name = "scripted"

    def __init__(self, outcomes: dict) -> None:
        self.outcomes, self.submitted, self._running = outcomes, [], []

    def describe(self) -> str:
        return "a scripted backend"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def submit(self, specs):
        self.submitted.append([s.run_id for s in specs])
        self._running += specs

    def running(self):
        return len(self._running)

    def wait(self):
        from qopt.study.backends import Outcome

        done, self._running = self._running, []
        return [(s, Outcome(*self.outcomes[s.run_id])) for s in done]


def test_runner_handles_every_outcome_the_same_way_for_any_backend(tmp_path, monkeypatch):
    """Parents are submitted before children (one batch per stage); a failed run gets its
    error.txt and fails its children in one line; an in-use run is neither failed nor done; a
    run reported done without a result.json is a failure, not a finished run."""
    text = STAGED.replace('method = ["float", "bcgd"]', 'method = ["float", "bcgd", "binaryrelax"]'
                          ).replace("seed = [0]", "seed = [0, 1]")
    st = study_from_dict(parse_toml(text))
    script = {"float_none_seed0": ("failed", "boom\nlast line"),
              "float_none_seed1": ("done", "", 1.0),  # ... but no result.json
              "bcgd_binary_seed0": ("done",), "binaryrelax_binary_seed0": ("done",),
              "bcgd_binary_seed1": ("in_use", "pid 7 on host h"),
              "binaryrelax_binary_seed1": ("in_use", "pid 8 on host h")}
    fake = ScriptedBackend(script)
    monkeypatch.setattr("qopt.study.runner.make_backend", lambda *a, **k: fake)
    with open(tmp_path / "log", "w") as log:
        summary = run_study(st, tmp_path / "o", stream=log)
    assert fake.submitted == [["float_none_seed0", "float_none_seed1"]]  # children never ready
    assert set(summary["failed"]) == set(script)  # both parents failed, so their children
    assert summary["n_done"] == 0 and summary["in_use"] == {}
    runs = tmp_path / "o" / "runs"
    assert (runs / "float_none_seed0" / "error.txt").read_text() == "boom\nlast line\n"
    assert "without writing" in (runs / "float_none_seed1" / "error.txt").read_text()
    assert (runs / "bcgd_binary_seed0" / "error.txt").read_text() == \
        "parent run float_none_seed0 failed\n"
    log = (tmp_path / "log").read_text()
    assert "a scripted backend" in log and "FAILED: last line" in log
    # without a protocol: in use is reported, not failed, and nothing is written for it
    flat = study_from_dict(parse_toml(text.replace('[protocol]\ninit_from = "float"', "")))
    fake2 = ScriptedBackend(script)
    monkeypatch.setattr("qopt.study.runner.make_backend", lambda *a, **k: fake2)
    with open(tmp_path / "log2", "w") as log:
        summary = run_study(flat, tmp_path / "o2", stream=log, max_runs=6)
    assert len(fake2.submitted) == 1 and len(fake2.submitted[0]) == 6
    assert set(summary["in_use"]) == {"bcgd_binary_seed1", "binaryrelax_binary_seed1"}
    assert not (tmp_path / "o2" / "runs" / "bcgd_binary_seed1").exists()
    assert "in use, skipped: pid 7 on host h" in (tmp_path / "log2").read_text()


# --- slurm through submitit ------------------------------------------------------------------

def test_slurm_job_array_script_carries_the_requested_resources(tmp_path, monkeypatch, capsys):
    """A fake ``sbatch``/``srun`` on PATH: the array script submitit writes for 3 runs; leaving
    with jobs still queued says they keep running."""
    pytest.importorskip("submitit", reason=SLURM_EXTRA)
    from qopt.study.backends import BackendError, make_backend

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text('#!/bin/sh\ncp "$1" "$(dirname "$0")/job.sh"\n'
                                    'echo "Submitted batch job 4242"\n')
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")
    for p in bin_dir.iterdir():
        p.chmod(0o755)
    cfg = with_overrides(backend_from_table({"name": "slurm", "slurm": {
        "partition": "gpu", "setup": ["module load cuda"], "additional": {"exclude": "n3"},
        "mem_gb": 16}}), None, time="1:30:00", gpus_per_run=1, cpus_per_run=4,
        array_parallelism=2)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(BackendError, match='cluster = "local"'):  # no srun: not SLURM
        make_backend(cfg, tmp_path / "study", "tiny", 1, 1)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    be = make_backend(cfg, tmp_path / "study", "tiny", 1, 1)
    with be:
        be.submit([RunSpec(f"r{i}", {}, str(tmp_path / f"r{i}"), 1) for i in range(3)])
        assert be.running() == 3
    assert "3 submitted SLURM job(s) keep running (4242_0, 4242_1, 4242_2)" in \
        capsys.readouterr().err
    script = (bin_dir / "job.sh").read_text()
    for line in ("--array=0-2%2", "--partition=gpu", "--time=90", "--gpus-per-node=1",
                 "--cpus-per-task=4", "--mem=16GB", "--exclude=n3", "--job-name=qopt-tiny",
                 "--signal=USR2"):
        assert f"#SBATCH {line}" in script, (line, script)
    assert "module load cuda" in script
    assert str(tmp_path / "study" / "slurm") in script  # logs in the study directory


def test_slurm_backend_matches_local_and_resumes(tmp_path, capsys, local_study):
    """submitit's local executor: the parent run only (--max-runs 1), then the rerun submits
    the child: the same numbers as the local backend."""
    pytest.importorskip("submitit", reason=SLURM_EXTRA)
    f, expected = local_study
    out = tmp_path / "slurm"
    args = ["study", str(f), "--out", str(out), "--backend", "slurm", "--set",
            "backend.slurm.cluster=local", "--time", "10"]
    assert main([*args, "--max-runs", "1"]) == 0
    assert [p.parent.name for p in out.glob("runs/*/result.json")] == ["float_none_seed0"]
    assert main(args) == 0
    log = capsys.readouterr().out
    assert "local processes via submitit" in log and "1 finished, 1 to run" in log
    assert _fingerprint(out) == expected
    assert len(list((out / "slurm" / "outcomes").glob("*.json"))) == 2
    assert main(args) == 0  # a third call has nothing to do
    assert "2 finished, 0 to run" in capsys.readouterr().out


FAKE_SBATCH = r"""#!{python}
# A stand-in for SLURM's sbatch: runs each task of the submitted array as a detached local
# process with the environment SLURM gives a job (what submitit's job code reads).
import os, re, subprocess, sys
from pathlib import Path
here = Path(__file__).parent
script = Path(sys.argv[-1]).read_text()
counter = here / "next_id"
job = int(counter.read_text()) if counter.exists() else 4242
counter.write_text(str(job + 1))
m = re.search(r"#SBATCH --array=0-(\d+)", script)
for task in range(int(m.group(1)) + 1 if m else 1):
    env = dict(os.environ, SLURM_JOB_ID=str(job), SLURM_NTASKS="1", SLURM_JOB_NUM_NODES="1",
               SLURM_NODEID="0", SLURM_PROCID="0", SLURM_LOCALID="0",
               SLURM_JOB_NODELIST="localhost")
    if m:
        env.update(SLURM_ARRAY_JOB_ID=str(job), SLURM_ARRAY_TASK_ID=str(task))
    log = open(here / f"job{{job}}_{{task}}.log", "w")
    subprocess.Popen(["bash", sys.argv[-1]], env=env, stdout=log, stderr=log,
                     start_new_session=True)
print(f"Submitted batch job {{job}}")
"""
FAKE_SRUN = "#!/bin/sh\nwhile [ \"${1#--}\" != \"$1\" ]; do case $1 in --output|--error) " \
    "shift 2;; *) shift;; esac; done\nexec \"$@\"\n"


@pytest.mark.slow
def test_slurm_backend_through_a_fake_sbatch_matches_local(tmp_path, monkeypatch, local_study):
    """The SLURM code path itself (cluster = "slurm": sbatch, job arrays, SLURM's job
    environment) with stand-ins for sbatch and srun that run the jobs here; no sacct, so the
    jobs are known to have ended by their outcome files alone."""
    pytest.importorskip("submitit", reason=SLURM_EXTRA)
    f, expected = local_study
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text(FAKE_SBATCH.format(python=sys.executable))
    (bin_dir / "srun").write_text(FAKE_SRUN)
    for p in bin_dir.iterdir():
        p.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setattr("qopt.study.backends.slurm.POLL_S", {"slurm": 0.5})
    out = tmp_path / "fake-slurm"
    assert main(["study", str(f), "--out", str(out), "--backend", "slurm"]) == 0
    assert _fingerprint(out) == expected
    assert sorted(p.name for p in (out / "slurm").glob("*_submission.sh")) == [
        "4242_submission.sh", "4243_submission.sh"]  # one array per stage


# --- ray -------------------------------------------------------------------------------------

def test_ray_backend_on_an_embedded_2_cpu_ray_matches_local(tmp_path, capsys, monkeypatch,
                                                            local_study):
    """With a relative --out: the tasks resolve paths against the study's working directory."""
    pytest.importorskip("ray", reason=RAY_EXTRA)
    f, expected = local_study
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "ray"
    assert main(["study", str(f), "--out", "ray", "--backend", "ray", "--num-cpus", "2"]) == 0
    assert "an embedded Ray with 2 CPU(s)" in capsys.readouterr().out
    assert _fingerprint(out) == expected
    import ray

    assert not ray.is_initialized()  # the embedded Ray was stopped
