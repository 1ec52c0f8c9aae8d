"""Metrics sinks: ``RUN_DIR/metrics.jsonl`` (one JSON object per line) and, when the
``tensorboard`` package is installed, TensorBoard scalars in ``RUN_DIR/tb``.

Record kinds: ``{"type": "train"|"eval"|"diag"|"probe"|"final", "step": int, "epoch": int,
...}`` (``probe``: :mod:`qopt.train.probe`; ``final``: the final evaluation).
A value whose key collides with ``type``/``step``/``epoch`` (the optimizer's own ``step``
counter in diagnostics) is stored as ``opt_<key>``. Every line is flushed; resume truncates
the file to the byte offset stored in the checkpoint, so a resumed run's file equals an
uninterrupted run's (except diagnostics that compare with the previous record, which restart).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any


def _clean(v: Any) -> Any:
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


class MetricsLogger:
    """Append-only JSONL logger (+ optional TensorBoard); no-op when ``enabled`` is False
    (non-zero ranks)."""

    def __init__(self, run_dir: str | os.PathLike, enabled: bool = True,
                 tensorboard: bool = True) -> None:
        self.path = Path(run_dir) / "metrics.jsonl"
        self.enabled = enabled
        self._fh = open(self.path, "a", encoding="utf-8") if enabled else None  # noqa: SIM115
        self._tb = None
        if enabled and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(Path(run_dir) / "tb"))
            except ImportError:
                self._tb = None

    def offset(self) -> int:
        """Current byte size of the JSONL file (stored in checkpoints)."""
        if self._fh is None:
            return 0
        self._fh.flush()
        return self._fh.tell()

    def log(self, kind: str, step: int, epoch: int, values: dict[str, Any]) -> None:
        """Write one record; tensors become numbers, NaN/Inf become null."""
        if self._fh is None:
            return
        rec = {"type": kind, "step": int(step), "epoch": int(epoch)}
        rec.update({(f"opt_{k}" if k in rec else k): _clean(v) for k, v in values.items()})
        self._fh.write(json.dumps(rec) + "\n")
        self._fh.flush()
        if self._tb is not None:
            for k, v in rec.items():
                if k not in ("type", "step", "epoch") and isinstance(v, (int, float)):
                    self._tb.add_scalar(f"{kind}/{k}", v, step)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def truncate_metrics(run_dir: str | os.PathLike, offset: int) -> None:
    """Cut ``metrics.jsonl`` back to ``offset`` bytes (records written after a checkpoint)."""
    path = Path(run_dir) / "metrics.jsonl"
    if path.exists() and path.stat().st_size > offset:
        with open(path, "r+b") as fh:
            fh.truncate(offset)
