"""The shared timer of every benchmark, and the machine description printed in BENCHMARKS.md.

:func:`time_call` runs ``fn`` ``warmup`` times untimed, then ``repeats`` timed samples; each sample
times ``inner`` back-to-back calls (``inner`` is calibrated so a sample lasts at least
``min_sample_s``, which keeps timer resolution and launch jitter below ~1 %) and is divided by
``inner``. On CUDA the device is synchronised before the clock starts and before it stops (kernel
launches are asynchronous), so a sample measures completed work. The statistic reported is the
**median** per-call time (robust to the occasional preempted sample) with the inter-quartile
range. Ratios between two timings are only meaningful within one run of one machine.

:func:`time_interleaved` times several functions **round-robin** (round r times every function
once, in an order rotated by r), so a burst of load from another process on a shared machine hits
all of them alike and their ratios stay meaningful.
"""

from __future__ import annotations

import os
import platform
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np

__all__ = ["Timing", "device_sync", "machine_info", "time_call", "time_interleaved"]


@dataclass(frozen=True)
class Timing:
    """Per-call wall time statistics in seconds over ``repeats`` samples of ``inner`` calls."""

    median_s: float
    q25_s: float
    q75_s: float
    repeats: int
    inner: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def device_sync(device: Any) -> Callable[[], None]:
    """A no-argument function that waits for queued work on ``device`` (no-op off CUDA)."""
    dev = str(device)
    if dev.startswith("cuda"):
        import torch

        return torch.cuda.synchronize
    return lambda: None


def _check(warmup: int, repeats: int, max_inner: int, min_sample_s: float) -> None:
    for name, val, lo in (("warmup", warmup, 0), ("repeats", repeats, 1),
                          ("max_inner", max_inner, 1)):
        if not isinstance(val, int) or isinstance(val, bool) or val < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {val!r}")
    if not (isinstance(min_sample_s, (int, float)) and np.isfinite(min_sample_s)
            and min_sample_s >= 0):
        raise ValueError(f"min_sample_s must be a finite number >= 0, got {min_sample_s!r}")


def _sample(fn: Callable[[], object], inner: int, sync: Callable[[], None]) -> float:
    sync()
    t0 = time.perf_counter()
    for _ in range(inner):
        fn()
    sync()
    return (time.perf_counter() - t0) / inner


def _calibrate(fn: Callable[[], object], sync: Callable[[], None], min_sample_s: float,
               max_inner: int) -> int:
    t = _sample(fn, 1, sync)
    if t >= min_sample_s:
        return 1
    return int(min(max_inner, max(1, np.ceil(min_sample_s / max(t, 1e-9)))))


def _stats(times: list[float], inner: int) -> Timing:
    q25, med, q75 = np.percentile(np.asarray(times), [25, 50, 75])
    return Timing(float(med), float(q25), float(q75), len(times), inner)


def time_interleaved(fns: Mapping[str, Callable[[], object]], *,
                     sync: Callable[[], None] | None = None, warmup: int = 3,
                     repeats: int = 7, min_sample_s: float = 2e-3,
                     max_inner: int = 10_000) -> dict[str, Timing]:
    """Median per-call time of each function, sampled round-robin (module docstring).

    Args:
        fns: name -> work (return values ignored). sync: device barrier (see
            :func:`device_sync`); None = host only. warmup: untimed calls of each (>= 0).
            repeats: timed samples of each (>= 1). min_sample_s: calibrate each function's
            ``inner`` so that one sample lasts at least this long. max_inner: cap on ``inner``.
    """
    if not isinstance(fns, Mapping) or not fns:
        raise ValueError("fns must be a non-empty mapping name -> callable")
    for name, fn in fns.items():
        if not callable(fn):
            raise TypeError(f"fns[{name!r}] must be callable, got {type(fn).__name__}")
    _check(warmup, repeats, max_inner, min_sample_s)
    sync = sync or (lambda: None)
    names = list(fns)
    for name in names:
        for _ in range(warmup):
            fns[name]()
    sync()
    inner = {n: _calibrate(fns[n], sync, min_sample_s, max_inner) for n in names}
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats):
        k = r % len(names)
        for n in names[k:] + names[:k]:
            times[n].append(_sample(fns[n], inner[n], sync))
    return {n: _stats(times[n], inner[n]) for n in names}


def time_call(fn: Callable[[], object], *, sync: Callable[[], None] | None = None,
              warmup: int = 3, repeats: int = 7, min_sample_s: float = 2e-3,
              max_inner: int = 10_000) -> Timing:
    """Median wall time of one call of ``fn`` (module docstring); arguments as
    :func:`time_interleaved` with a single function."""
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    return time_interleaved({"fn": fn}, sync=sync, warmup=warmup, repeats=repeats,
                            min_sample_s=min_sample_s, max_inner=max_inner)["fn"]


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=False,
                             cwd=os.path.dirname(os.path.abspath(__file__)))
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def machine_info() -> dict[str, Any]:
    """Hardware and software of this run (printed at the top of BENCHMARKS.md)."""
    import torch

    info: dict[str, Any] = {
        "date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "host_cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else None,
        "torch_threads": torch.get_num_threads(),
        "load_avg_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "cuda": torch.cuda.is_available(),
        "git_commit": _git_commit(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda_version"] = torch.version.cuda
    try:
        import importlib.metadata as md

        info["torchao"] = md.version("torchao")
    except Exception:  # noqa: BLE001 - not installed / broken metadata
        info["torchao"] = None
    return info
