"""The ``local`` backend: runs in worker processes of this machine.

Workers are processes (forked on Linux, spawned elsewhere or once CUDA is initialised), each
with ``threads`` torch threads, exiting when the main process dies
(:mod:`qopt.study.workers`). With ``fork`` the data sets of the pending runs are loaded once in
the main process first and inherited by every worker.

**A dead worker loses only its run.** Each worker is its own process with its own pipe and runs
one run at a time; the backend knows which run each holds. When one dies (``kill -9``, the OOM
killer, a segfault in a kernel) its run is reported failed, naming the exit signal, and a fresh
worker takes its place for the runs still queued; the other workers and their runs go on.
(``concurrent.futures.ProcessPoolExecutor``, used before, breaks as a whole when one worker
dies: every running and queued run of the pool failed.)
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
from collections import deque
from multiprocessing.connection import Connection, wait
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


def _worker_main(conn: Connection, threads: int, parent_pid: int) -> None:
    """A worker's loop: receive ``(config, run_dir)``, train it, send the outcome dict; stop on
    ``None`` or when the main process goes away."""
    init_worker(threads, parent_pid)
    try:
        while True:
            try:
                job = conn.recv()
            except EOFError:
                return
            if job is None:
                return
            conn.send(run_cell(*job))
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group: the main process
        os._exit(130)  # reports it; the run resumes from its checkpoint on the next call


def death_message(exitcode: int | None) -> str:
    """``worker process died (killed by SIGKILL) while training this run; ...``."""
    if exitcode is not None and exitcode < 0:
        try:
            how = f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            how = f"killed by signal {-exitcode}"
    else:
        how = f"exit code {exitcode}"
    return (f"worker process died ({how}) while training this run; rerun the study to resume "
            f"it from its last checkpoint (the other runs were not affected)")


class _Worker:
    """One worker process, its end of the pipe and the run it holds (or None)."""

    def __init__(self, ctx: Any, threads: int) -> None:
        self.conn, child = ctx.Pipe(duplex=True)
        self.process = ctx.Process(target=_worker_main, args=(child, threads, os.getpid()),
                                   name="qopt-study-worker")  # not daemonic: a run may
        # start processes of its own (torch.compile's workers); it exits with the main process
        self.process.start()
        child.close()
        self.spec: RunSpec | None = None

    def stop(self, kill: bool) -> None:
        if kill and self.process.is_alive():
            self.process.kill()
        else:
            try:
                self.conn.send(None)
            except (OSError, ValueError):
                pass
        self.process.join(timeout=30)
        if self.process.is_alive():  # pragma: no cover - a worker that ignores the request
            self.process.kill()
            self.process.join()
        self.conn.close()


class LocalBackend:
    """``workers`` processes with ``threads`` torch threads each; ``warm`` are the configs
    whose data sets are pre-loaded before forking."""

    name = "local"

    def __init__(self, workers: int, threads: int, warm: list[Any] | None = None) -> None:
        if workers < 1 or threads < 1:
            raise ValueError(f"workers and threads must be >= 1, got {workers}, {threads}")
        self.workers, self.threads, self.warm = workers, threads, warm or []
        self._ctx: Any = None
        self._pool: list[_Worker] = []
        self._queue: deque[RunSpec] = deque()
        self._ended: list[tuple[RunSpec, Outcome]] = []

    def describe(self) -> str:
        return f"{self.workers} worker(s)"

    def __enter__(self) -> LocalBackend:
        method = start_method()
        if method == "fork":
            warm_up(self.warm)
        self._ctx = mp.get_context(method)
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        for w in self._pool:  # on an error or Ctrl-C the runs still held are stopped
            w.stop(kill=exc_type is not None and w.spec is not None)
        self._pool, self._queue = [], deque()

    def submit(self, specs: list[RunSpec]) -> None:
        assert self._ctx is not None, "use the backend as a context manager"
        self._queue.extend(specs)
        self._dispatch()

    def _dispatch(self) -> None:
        """Hand queued runs to idle workers, starting workers up to ``workers``."""
        while self._queue:
            idle = next((w for w in self._pool if w.spec is None), None)
            if idle is None:
                if len(self._pool) >= self.workers:
                    return
                idle = _Worker(self._ctx, self.threads)
                self._pool.append(idle)
            spec = self._queue.popleft()
            try:
                idle.conn.send((spec.config, spec.run_dir))
            except (OSError, ValueError):  # it died while idle: replace it, try again
                self._bury(idle)
                self._queue.appendleft(spec)
                continue
            idle.spec = spec

    def _bury(self, w: _Worker) -> None:
        w.process.join(timeout=5)
        w.conn.close()
        self._pool.remove(w)

    def running(self) -> int:
        return len(self._queue) + sum(w.spec is not None for w in self._pool) + \
            len(self._ended)

    def wait(self) -> list[tuple[RunSpec, Outcome]]:
        """Block until a run ends (its outcome arrives, or its worker dies); every run ended
        since the last call, each once."""
        while not self._ended:
            busy = [w for w in self._pool if w.spec is not None]
            if not busy:
                if not self._queue:
                    break
                self._dispatch()
                continue
            ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy])
            for w in busy:
                if w.conn not in ready and w.process.sentinel not in ready:
                    continue
                spec, res = w.spec, None
                if w.conn.poll():
                    try:
                        res = w.conn.recv()
                    except (EOFError, OSError):
                        res = None
                w.spec = None
                if res is None:  # the pipe closed without an answer: the worker died
                    self._bury(w)
                    res = {"error": death_message(w.process.exitcode), "time": 0.0}
                assert spec is not None
                self._ended.append((spec, Outcome.from_dict(res)))
            self._dispatch()
        out, self._ended = self._ended, []
        return out
