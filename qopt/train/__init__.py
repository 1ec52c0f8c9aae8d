"""Training: config, trainer (single process or torchrun/DDP), checkpoints, schedules, I/O.

Public entry points: :class:`TrainConfig` and :func:`train` (writes a run directory, API.md).
"""

from qopt.train.config import METHODS, TrainConfig
from qopt.train.io import atomic_torch_save, atomic_write_json, atomic_write_text, read_jsonl
from qopt.train.schedules import SCHEDULES, build_scheduler
from qopt.train.seeding import rng_state, seed_everything, set_rng_state
from qopt.train.trainer import resolve_device, train

__all__ = [
    "METHODS", "SCHEDULES", "TrainConfig", "atomic_torch_save", "atomic_write_json",
    "atomic_write_text", "build_scheduler", "read_jsonl", "resolve_device", "rng_state",
    "seed_everything", "set_rng_state", "train",
]
