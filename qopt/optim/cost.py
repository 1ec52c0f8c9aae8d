r"""How much of the training step the projection takes, measured once, off the hot path.

:class:`CostMeter` is idle unless started (one attribute test per step). Started, it skips the
first ``skip`` steps (first-touch allocations, lazy optimizer state), then over the next
``steps`` steps records

* the wall time from one :meth:`QuantOptimizer.step` call to the next: the whole training step
  (data, forward, backward, optimizer), and
* the time spent in the step's projection (:func:`qopt.optim._project.project_entries`),

and reports ``share = projection / whole step`` (the sums over the measured steps). On CUDA the
device is synchronised around the projection and at each step start during those steps only
(a few host syncs, once per run); afterwards nothing is timed.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import torch

__all__ = ["CostMeter"]


class CostMeter:
    """Measures the projection's share of the training step (module docstring)."""

    def __init__(self) -> None:
        self.active = False
        self._left = self._skip = 0
        self._t_prev: float | None = None
        self._proj = self._wall = 0.0
        self._n = self._first = 0
        self._device: torch.device | None = None
        self._result: dict | None = None

    def start(self, steps: int = 5, skip: int = 2, device: torch.device | None = None) -> None:
        """Measure steps ``skip + 1 .. skip + steps`` from now (an interval needs two step
        starts, so ``steps + 1`` calls are observed after the skipped ones)."""
        self.active, self._skip, self._left = True, skip, steps
        self._t_prev, self._proj, self._wall, self._n = None, 0.0, 0.0, 0
        self._device, self._result, self._first = device, None, 0

    def _sync(self) -> None:
        if self._device is not None and self._device.type == "cuda":
            torch.cuda.synchronize(self._device)

    def step_begin(self, step: int) -> None:
        """Called at the start of every step (``step``: steps done before this one)."""
        if not self.active:
            return
        if self._skip > 0:
            self._skip -= 1
            return
        self._sync()
        now = time.perf_counter()
        if self._t_prev is not None:
            self._wall += now - self._t_prev
            self._n += 1
            if self._n >= self._left:
                self.active = False
                self._result = {"share": self._proj / self._wall if self._wall > 0
                                else 0.0, "proj_ms": 1e3 * self._proj / self._n,
                                "step_ms": 1e3 * self._wall / self._n, "steps": self._n,
                                "first": self._first}
                return
        else:
            self._first = step + 1
        self._t_prev = now

    @contextlib.contextmanager
    def projection(self) -> Iterator[None]:
        """Time the block when a measured step is in progress."""
        if not self.active or self._skip > 0 or self._t_prev is None:
            yield
            return
        self._sync()
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self._sync()
            self._proj += time.perf_counter() - t0

    def result(self) -> dict | None:
        """``{"share", "proj_ms", "step_ms", "steps", "first"}`` once measured, else None."""
        return self._result
