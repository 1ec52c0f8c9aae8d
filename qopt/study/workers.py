"""Study worker processes: set-up, and exit when the study's main process dies.

The local backend's workers (:mod:`qopt.study.backends.local`) block reading their task
pipe; if the main process is killed (SIGKILL: no clean-up runs), an idle worker would wait
forever and a busy one would finish its run and then wait forever — a leaked process that may
later share a run directory with a rerun. Each worker therefore

1. asks Linux to send it SIGTERM when its parent dies (``prctl(PR_SET_PDEATHSIG)``; the
   backend starts its workers from the main process, whose death is what matters), and
2. runs a daemon thread that polls ``os.getppid()`` once per second and exits the process
   (``os._exit``) when the parent changed — the portable fallback, and the guard against the
   race where the parent died before step 1.

A run interrupted this way is safe: checkpoints and results are written atomically, and
rerunning the study resumes it.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
import traceback
from typing import Any

PR_SET_PDEATHSIG = 1
POLL_S = 1.0


def init_worker(threads: int, parent_pid: int) -> None:
    """Worker set-up: torch threads, then the parent-death guards (module docstring)."""
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set in this (forked) process
        pass
    watch_parent(parent_pid)


def watch_parent(parent_pid: int) -> None:
    """Exit this process when ``parent_pid`` is no longer its parent."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - no prctl
            pass
    if os.getppid() != parent_pid:
        os._exit(1)

    def poll() -> None:
        while True:
            time.sleep(POLL_S)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=poll, name="qopt-parent-watch", daemon=True).start()


def run_cell(cfg_dict: dict, run_dir: str) -> dict[str, Any]:
    """Train one run (resuming it if it has a checkpoint); the entry point of every study
    backend. Returns ``{"result", "time"}``, ``{"error", "time"}`` or, when another live
    process holds the run directory's lock (:class:`~qopt.train.lock.RunLock`),
    ``{"in_use", "time"}``. User-level failures (a diverged run, a conflicting run directory)
    are one line; anything else keeps its traceback."""
    from qopt.train.config import TrainConfig
    from qopt.train.divergence import TrainingDiverged
    from qopt.train.identity import RunConflict
    from qopt.train.lock import RunLockedError
    from qopt.train.trainer import train

    t0 = time.perf_counter()
    try:
        res = train(TrainConfig.from_dict(cfg_dict), run_dir, resume=True, progress=False)
    except RunLockedError as exc:
        return {"in_use": str(exc), "time": time.perf_counter() - t0}
    except (TrainingDiverged, RunConflict) as exc:
        return {"error": str(exc), "time": time.perf_counter() - t0}
    except Exception:  # noqa: BLE001 - reported per run, the study goes on
        return {"error": traceback.format_exc(), "time": time.perf_counter() - t0}
    return {"result": res, "time": time.perf_counter() - t0}
