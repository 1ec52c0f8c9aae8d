"""The ``slurm`` backend: each run is a SLURM job, submitted through ``submitit``
(``pip install 'qopt[slurm]'``).

The runs that are ready together (all of them, or a stage of a staged protocol) are submitted
as one job array (``--array=0-N%array_parallelism``); each job requests ``cpus_per_run`` CPUs,
``gpus_per_run`` GPUs, ``mem_gb`` and ``time`` on ``partition`` (``[backend.slurm]``,
:mod:`qopt.study.backends.options`), runs the ``setup`` lines, then trains its run in the
shared study directory (:func:`qopt.study.backends.base.run_remote`). submitit's files (the
sbatch scripts, the pickled job submitted by this process, each job's stdout/stderr logs) go to
``STUDY_DIR/slurm/``.

- **Resumable**: the study directory is the state. A rerun skips the finished runs
  (``result.json``), skips a run whose directory lock is held by a live job ("in use", not
  failed), and resubmits the others, which resume from their checkpoints. A job still queued
  from an earlier call that starts after its run was finished returns at once.
- **Time limits**: a job reaching its limit is requeued by submitit (``max_requeues`` times)
  and its run resumes from its last epoch checkpoint.
- **No pickle is read back**: each job writes its outcome as JSON
  (``slurm/outcomes/<run id>.<token>.json``, atomically); this process never unpickles a file
  of the study directory. (The job itself unpickles the submission written by this process:
  that is how submitit ships a function.)
- If this process stops, submitted jobs go on running; rerun the same command to collect them.

``cluster = "local"`` runs the very same jobs as local processes through submitit's local
executor: a way to try a study file (and the way the tests run this backend).
"""

from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path
from typing import Any

from qopt.study.backends.base import BackendError, Outcome, RunSpec, require, run_remote
from qopt.study.backends.options import SlurmOptions

__all__ = ["SlurmBackend", "SlurmRun", "executor_parameters"]

POLL_S = {"slurm": 10.0, "local": 0.5}


def executor_parameters(opts: SlurmOptions, threads: int, name: str) -> dict[str, Any]:
    """submitit ``AutoExecutor.update_parameters`` arguments for ``opts`` (shared names apply
    to every cluster; ``slurm_*`` ones only to SLURM)."""
    p: dict[str, Any] = {
        "name": f"qopt-{name}",
        "timeout_min": opts.time_min,
        "cpus_per_task": opts.cpus_per_run or threads,
        "tasks_per_node": 1,
        "nodes": 1,
        "gpus_per_node": opts.gpus_per_run or None,
        "mem_gb": opts.mem_gb,
        "slurm_array_parallelism": opts.array_parallelism,
        "slurm_partition": opts.partition,
        "slurm_account": opts.account,
        "slurm_qos": opts.qos,
        "slurm_constraint": opts.constraint,
        "slurm_setup": list(opts.setup) or None,
        "slurm_additional_parameters": dict(opts.additional) or None,
    }
    return {k: v for k, v in p.items() if v is not None}


class SlurmRun:
    """The job submitit runs: train the run, write the outcome JSON. Requeued on a time limit
    or preemption (submitit's ``checkpoint`` protocol: the same call again; the trainer
    resumes from its checkpoint)."""

    def __init__(self, outcome_path: str) -> None:
        self.outcome_path = outcome_path

    def __call__(self, spec: RunSpec) -> None:
        from qopt.io import atomic_write_json

        atomic_write_json(self.outcome_path, run_remote(spec))

    def checkpoint(self, spec: RunSpec) -> Any:
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self, spec)


class SlurmBackend:
    """Submit runs as submitit jobs to ``opts.cluster`` with their files under ``folder``."""

    name = "slurm"

    def __init__(self, opts: SlurmOptions, folder: str | Path, threads: int,
                 study_name: str) -> None:
        self.submitit = require("submitit", "slurm")
        self.opts, self.folder, self.threads = opts, Path(folder), threads
        self.params = executor_parameters(opts, threads, study_name)
        self._running: dict[str, tuple[RunSpec, Any, Path]] = {}
        try:
            ex = self.submitit.AutoExecutor(folder=self.folder, cluster=opts.cluster,
                                            slurm_max_num_timeout=opts.max_requeues,
                                            local_max_num_timeout=opts.max_requeues)
        except RuntimeError as exc:  # no srun: not on a SLURM cluster
            raise BackendError(f"submitit cannot reach SLURM from here ({exc}); run on a "
                               "login node, or set [backend.slurm] cluster = \"local\" to "
                               "run the jobs as local processes") from None
        try:
            ex.update_parameters(**self.params)
        except (NameError, AssertionError, ValueError) as exc:
            raise BackendError(f"submitit refused the [backend.slurm] settings: "
                               f"{' '.join(str(exc).split())}") from None
        self._executor: Any = ex

    def describe(self) -> str:
        where = "SLURM" if self.opts.cluster == "slurm" else "local processes via submitit"
        part = f" partition {self.opts.partition}," if self.opts.partition else ""
        gpus = f", {self.opts.gpus_per_run} GPU(s)" if self.opts.gpus_per_run else ""
        return (f"{where} ({part} {self.params['cpus_per_task']} CPU(s){gpus} and "
                f"{self.opts.time_min} min per job, array parallelism "
                f"{self.opts.array_parallelism})").replace("( ", "(")

    def __enter__(self) -> SlurmBackend:
        (self.folder / "outcomes").mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(self, *exc: object) -> None:
        """Leaving early (an interrupt, an error): jobs of submitit's local executor are
        cancelled (they are this machine's processes); SLURM jobs go on, and this says so."""
        if not self._running:
            return
        jobs = [job for _, job, _ in self._running.values()]
        self._running.clear()
        if self.opts.cluster == "local":
            for job in jobs:
                try:
                    job.cancel(check=False)
                except Exception:  # noqa: BLE001 - already ended
                    pass
            return
        ids = ", ".join(str(j.job_id) for j in jobs[:8]) + (" ..." if len(jobs) > 8 else "")
        print(f"qopt study: {len(jobs)} submitted SLURM job(s) keep running ({ids}); rerun the "
              "same command to collect them, or scancel them", file=sys.stderr, flush=True)

    def submit(self, specs: list[RunSpec]) -> None:
        if not specs:
            return
        staged = [(s, self.folder / "outcomes" / f"{s.run_id}.{uuid.uuid4().hex[:12]}.json")
                  for s in specs]
        try:
            with self._executor.batch():
                jobs = [self._executor.submit(SlurmRun(str(p)), s) for s, p in staged]
        except Exception as exc:  # noqa: BLE001 - sbatch's refusal, as one line
            raise BackendError(f"submitting {len(specs)} job(s) failed: "
                               f"{' '.join(str(exc).split())[:500]}") from None
        for (s, p), job in zip(staged, jobs):
            self._running[s.run_id] = (s, job, p)

    def running(self) -> int:
        return len(self._running)

    def _ended(self, job: Any, path: Path) -> bool:
        if path.exists():
            return True
        try:
            return bool(job.done())
        except Exception:  # noqa: BLE001 - the scheduler could not be asked; ask again later
            return False

    def wait(self) -> list[tuple[RunSpec, Outcome]]:
        poll = POLL_S.get(self.opts.cluster, 5.0)
        while True:
            ended = [rid for rid, (_, job, p) in self._running.items() if self._ended(job, p)]
            if ended:
                return [self._collect(rid) for rid in ended]
            time.sleep(poll)

    def _collect(self, run_id: str) -> tuple[RunSpec, Outcome]:
        from qopt.train.io import read_json

        spec, job, path = self._running.pop(run_id)
        if path.exists():
            try:
                return spec, Outcome.from_dict(read_json(path))
            except (OSError, ValueError) as exc:
                return spec, Outcome("failed", f"unreadable job outcome {str(path)!r}: {exc}")
        if (Path(spec.run_dir) / "result.json").exists():  # finished; the outcome file is
            return spec, Outcome("done")  # not visible yet (a network file system's cache)
        state = getattr(job, "state", "UNKNOWN")
        log = Path(job.paths.stderr) if hasattr(job, "paths") else self.folder
        return spec, Outcome("failed", f"job {job.job_id} ended ({state}) without an outcome; "
                                       f"see {log}")
