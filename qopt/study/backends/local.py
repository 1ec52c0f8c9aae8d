"""The ``local`` backend: runs in worker processes of this machine.

Workers are processes (``concurrent.futures.ProcessPoolExecutor``; forked on Linux, spawned
elsewhere or once CUDA is initialised), each with ``threads`` torch threads, exiting when the
main process dies (:mod:`qopt.study.workers`). With ``fork`` the data sets of the pending runs
are loaded once in the main process first and inherited by every worker.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from qopt.study.backends.base import Outcome, RunSpec
from qopt.study.workers import init_worker, run_cell

__all__ = ["LocalBackend"]


def start_method() -> str:
    """``fork`` where available and safe (Linux, CUDA not initialised in this process: a
    forked child cannot use an inherited CUDA context) — much faster than re-importing torch in
    every worker; else ``spawn``."""
    import torch

    if "fork" in mp.get_all_start_methods() and sys.platform.startswith("linux") \
            and not torch.cuda.is_initialized():
        return "fork"
    return "spawn"


def warm_up(configs: list[Any]) -> None:
    """Load, once in this process, the data sets of ``configs`` (``TrainConfig``) and torch's
    optimizer machinery: forked workers inherit them instead of each generating / reading the
    data (MNIST-1D: ~10 s of CPU per worker). Only with the ``fork`` start method."""
    import torch

    from qopt.data import load_data

    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    seen = set()
    for cfg in configs:
        key = (cfg.dataset, cfg.data_dir, repr(sorted(cfg.dataset_args.items())))
        if key not in seen and cfg.dataset != "imagenet" and not cfg.is_user_dataset:
            seen.add(key)
            load_data(cfg.dataset, cfg.data_dir, **cfg.dataset_args)


class LocalBackend:
    """``workers`` processes with ``threads`` torch threads each; ``warm`` are the configs
    whose data sets are pre-loaded before forking."""

    name = "local"

    def __init__(self, workers: int, threads: int, warm: list[Any] | None = None) -> None:
        if workers < 1 or threads < 1:
            raise ValueError(f"workers and threads must be >= 1, got {workers}, {threads}")
        self.workers, self.threads, self.warm = workers, threads, warm or []
        self._pool: ProcessPoolExecutor | None = None
        self._running: dict[Future, RunSpec] = {}

    def describe(self) -> str:
        return f"{self.workers} worker(s)"

    def __enter__(self) -> LocalBackend:
        method = start_method()
        if method == "fork":
            warm_up(self.warm)
        self._pool = ProcessPoolExecutor(self.workers, mp_context=mp.get_context(method),
                                         initializer=init_worker,
                                         initargs=(self.threads, os.getpid()))
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def submit(self, specs: list[RunSpec]) -> None:
        assert self._pool is not None, "use the backend as a context manager"
        for s in specs:
            self._running[self._pool.submit(run_cell, s.config, s.run_dir)] = s

    def running(self) -> int:
        return len(self._running)

    def wait(self) -> list[tuple[RunSpec, Outcome]]:
        done, _ = wait(list(self._running), return_when=FIRST_COMPLETED)
        out = []
        for fut in done:
            spec = self._running.pop(fut)
            try:
                res = fut.result()
            except Exception as exc:  # noqa: BLE001 - a worker died (OOM, signal)
                res = {"error": f"worker process failed: {exc!r}", "time": 0.0}
            out.append((spec, Outcome.from_dict(res)))
        return out
