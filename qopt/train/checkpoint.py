"""Atomic checkpoints of a run: ``RUN_DIR/checkpoint.pt`` rewritten at the end of every epoch.

Contents: model ``state_dict`` (of the unwrapped module), optimizer ``state_dict`` (the
QuantOptimizer's, with its latent weights and λ/ρ/phase state), scheduler ``state_dict``, all RNG
states, the next epoch to run, the global step, the byte offset of ``metrics.jsonl`` and the
per-epoch history. Loading all of these restores the exact state of an uninterrupted run at the
same epoch boundary (the data order of an epoch depends on (seed, epoch) only), so a resumed run
reproduces the uninterrupted one bit for bit on the same machine.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from qopt.train.io import atomic_torch_save

CHECKPOINT = "checkpoint.pt"


def save_checkpoint(run_dir: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Atomically write ``state`` to ``RUN_DIR/checkpoint.pt``."""
    return atomic_torch_save(Path(run_dir) / CHECKPOINT, state)


def load_checkpoint(run_dir: str | os.PathLike, map_location: str | torch.device = "cpu"
                    ) -> dict[str, Any] | None:
    """The checkpoint dict, or ``None`` when the run has none yet."""
    path = Path(run_dir) / CHECKPOINT
    if not path.exists():
        return None
    return torch.load(path, map_location=map_location, weights_only=False)
