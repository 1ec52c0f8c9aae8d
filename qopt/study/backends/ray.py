"""The ``ray`` backend: each run is a Ray task (``pip install 'qopt[ray]'``).

With ``address`` (``[backend.ray] address`` or ``--address``: ``"auto"``, ``"HOST:PORT"`` or
``"ray://HOST:10001"``) the runs go to that running cluster, whose every node must import
``qopt`` and see the study directory (a shared file system); without one an embedded local Ray
is started with ``num_cpus`` CPUs (default: ``workers x cpus_per_run``) and stopped at the end.
If this process already has Ray initialised, that connection is used and left open.

Each task requests ``cpus_per_run`` CPUs (default ``[study] threads_per_worker``) and
``gpus_per_run`` GPUs, so Ray runs as many at once as the cluster's resources allow; it sets
the study's torch threads and trains the run in its directory
(:func:`qopt.study.backends.base.run_remote`). A task whose worker dies is retried by Ray (its
system-failure retries); the run resumes from its checkpoint. The result travels through the
run directory's ``result.json``, never through Ray's object store.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from qopt.study.backends.base import Outcome, RunSpec, require, run_remote
from qopt.study.backends.options import RayOptions

__all__ = ["RayBackend"]


class RayBackend:
    """Run runs as Ray tasks on ``opts.address`` or an embedded Ray (module docstring)."""

    name = "ray"

    def __init__(self, opts: RayOptions, threads: int, workers: int) -> None:
        self.ray = require("ray", "ray")
        self.opts, self.threads = opts, threads
        self.cpus = opts.cpus_per_run or threads
        self.num_cpus = None if opts.address else (opts.num_cpus or workers * self.cpus)
        self._owned = False
        self._task: Any = None
        self._running: dict[Any, RunSpec] = {}

    def describe(self) -> str:
        where = (f"the Ray cluster at {self.opts.address}" if self.opts.address
                 else f"an embedded Ray with {self.num_cpus} CPU(s)")
        gpus = f", {self.opts.gpus_per_run:g} GPU(s)" if self.opts.gpus_per_run else ""
        return f"{where} ({self.cpus} CPU(s){gpus} per run)"

    def __enter__(self) -> RayBackend:
        ray = self.ray
        if not ray.is_initialized():
            kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                  "configure_logging": False}
            if self.opts.address:
                ray.init(address=self.opts.address, **kw)
            else:
                # embedded Ray: its worker processes import the same qopt as this process
                # (the directory above the package first on their path), not whatever an
                # environment's site-packages holds
                root = str(Path(__file__).resolve().parents[3])
                path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
                kw["runtime_env"] = {"env_vars": {"PYTHONPATH": path}}
                ray.init(num_cpus=self.num_cpus, **kw)
            self._owned = True
        self._task = ray.remote(run_remote).options(num_cpus=self.cpus,
                                                    num_gpus=self.opts.gpus_per_run)
        return self

    def __exit__(self, *exc: object) -> None:
        for ref in list(self._running):
            try:
                self.ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 - already finished, or the cluster is gone
                pass
        self._running.clear()
        if self._owned:
            self.ray.shutdown()
            self._owned = False

    def submit(self, specs: list[RunSpec]) -> None:
        assert self._task is not None, "use the backend as a context manager"
        for s in specs:
            self._running[self._task.remote(s)] = s

    def running(self) -> int:
        return len(self._running)

    def wait(self) -> list[tuple[RunSpec, Outcome]]:
        refs = list(self._running)
        ready, _ = self.ray.wait(refs, num_returns=1)
        more, _ = self.ray.wait(refs, num_returns=len(refs), timeout=0)
        out = []
        for ref in dict.fromkeys([*ready, *more]):
            spec = self._running.pop(ref)
            try:
                res = self.ray.get(ref)
            except Exception as exc:  # noqa: BLE001 - the task or its worker failed
                res = {"error": f"Ray task failed: {' '.join(str(exc).split())[:1000]}"}
            out.append((spec, Outcome.from_dict(res)))
        return out
