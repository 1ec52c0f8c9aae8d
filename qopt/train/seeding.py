"""Deterministic seeding and capture/restore of every random number generator.

``seed_everything(s)`` seeds Python's ``random``, NumPy's legacy global generator and torch (CPU
and all CUDA devices). ``rng_state()`` / ``set_rng_state()`` capture and restore all of them, so
a run resumed from a checkpoint continues the exact random streams (dropout, init of lazily
built modules) of an uninterrupted run.

SOURCE: standard PyTorch reproducibility practice (torch docs, "Reproducibility").
"""

from __future__ import annotations

import os
import random
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed python, numpy and torch; optionally force deterministic torch kernels.

    Args:
        seed: a non-negative int.
        deterministic: ``torch.use_deterministic_algorithms(True, warn_only=True)`` and cuDNN
            deterministic mode (slower on GPU; CPU kernels used here are deterministic anyway).
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - seeding the legacy global generator on purpose
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def rng_state() -> dict[str, Any]:
    """Snapshot of python, numpy, torch CPU and torch CUDA generator states, in types that
    ``torch.load(weights_only=True)`` accepts (tuples, ints, floats, str, tensors: numpy's key
    array is stored as an int64 tensor)."""
    kind, key, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": (str(kind), torch.from_numpy(key.astype(np.int64)), int(pos), int(has_gauss),
                  float(cached)),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore a :func:`rng_state` snapshot."""
    random.setstate(state["python"])
    kind, key, pos, has_gauss, cached = state["numpy"]
    key = np.asarray(key.numpy() if isinstance(key, torch.Tensor) else key).astype(np.uint32)
    np.random.set_state((kind, key, pos, has_gauss, cached))  # noqa: NPY002
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
