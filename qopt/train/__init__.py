"""Training: config, trainer (single process or torchrun/DDP), checkpoints, schedules, I/O.

Public entry points: :class:`TrainConfig` and :func:`train` (writes a run directory, see the
README "Run directory"). Submodules are imported lazily, so the torch-free parts
(:mod:`qopt.train.config`, :mod:`qopt.train.options`, :mod:`qopt.train.identity`) can be used
to build the CLI without importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "METHODS": "qopt.train.fields", "SCHEDULES": "qopt.train.fields",
    "TrainConfig": "qopt.train.config", "RunConflict": "qopt.train.identity",
    "atomic_torch_save": "qopt.train.io", "atomic_write_json": "qopt.train.io",
    "atomic_write_text": "qopt.train.io", "read_jsonl": "qopt.train.io",
    "build_scheduler": "qopt.train.schedules", "rng_state": "qopt.train.seeding",
    "seed_everything": "qopt.train.seeding", "set_rng_state": "qopt.train.seeding",
    "resolve_device": "qopt.train.trainer", "train": "qopt.train.trainer",
    "TrainingDiverged": "qopt.train.divergence",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'qopt.train' has no attribute {name!r}")
