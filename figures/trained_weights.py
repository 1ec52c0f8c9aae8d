"""Weights of a trained network, for the figures that need real (non-Gaussian) weights.

Source, in order of preference:

1. a finished **float** run of a study directory: ``runs/<id>/model.pt`` (the trainer's final
   state dict) of the first run, in sorted order, whose ``config.json`` says ``method = "float"``;
2. otherwise a tiny model trained here, deterministically (seed 0, CPU, about a second): the
   project's ``CNN2D`` (conv widths 16, 32; batch norm) on scikit-learn's bundled 8×8 digits,
   10 epochs of SGD (lr 0.02, momentum 0.9, batch 64; one torch thread, so that a loaded
   machine does not oversubscribe) — 94 % test accuracy.

Either way the result is every floating tensor of the state dict with ≥ 2 dimensions whose name ends
in ``weight`` (conv and linear weights — the tensors the released codes quantize,
``docs/math/released-protocols.md#quantization-scope``), as float64 numpy arrays, plus a one-line
description of where they came from.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

__all__ = ["TINY_EPOCHS", "train_tiny_model", "trained_weights", "weights_from_study"]

TINY_EPOCHS = 10


def _select(state: dict) -> dict[str, np.ndarray]:
    import torch

    return {k: v.detach().to(torch.float64).cpu().numpy() for k, v in state.items()
            if isinstance(v, torch.Tensor) and v.is_floating_point() and v.ndim >= 2
            and k.endswith("weight")}


def weights_from_study(study_dir: str | os.PathLike) -> tuple[dict[str, np.ndarray], str] | None:
    """Weights of the first finished float run of ``study_dir`` (None if there is none)."""
    import torch

    runs = Path(study_dir) / "runs"
    if not runs.is_dir():
        return None
    for run in sorted(p for p in runs.iterdir() if p.is_dir()):
        cfg, model = run / "config.json", run / "model.pt"
        if not (cfg.is_file() and model.is_file()):
            continue
        try:
            method = json.loads(cfg.read_text(encoding="utf-8")).get("method")
        except json.JSONDecodeError:
            continue
        if method != "float":
            continue
        state = torch.load(model, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and isinstance(state.get("model"), dict):
            state = state["model"]
        weights = _select(state)
        if weights:
            return weights, f"float run {run.name} ({Path(study_dir).name})"
    return None


def train_tiny_model(seed: int = 0, epochs: int = TINY_EPOCHS) -> tuple[dict[str, np.ndarray],
                                                                         float]:
    """Train the tiny digits CNN (module docstring); return (weights, test accuracy)."""
    import torch

    from qopt.data import load_digits
    from qopt.models import CNN2D

    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be an integer >= 1, got {epochs!r}")
    data = load_digits()
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = CNN2D(1, 10, channels=(16, 32))
    opt = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
    lossf = torch.nn.CrossEntropyLoss()
    x, y = data.x_train, data.y_train
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(epochs):
            model.train()
            perm = torch.randperm(x.shape[0], generator=gen)
            for i in range(0, x.shape[0], 64):
                idx = perm[i:i + 64]
                opt.zero_grad(set_to_none=True)
                lossf(model(x[idx]), y[idx]).backward()
                opt.step()
        model.eval()
        with torch.no_grad():
            acc = (model(data.x_test).argmax(1) == data.y_test).double().mean().item()
    finally:
        torch.set_num_threads(threads)
    return _select(model.state_dict()), float(acc)


def trained_weights(study_dir: str | os.PathLike | None = None
                    ) -> tuple[dict[str, np.ndarray], str]:
    """(weights, description): from ``study_dir``'s float run if any, else the tiny model."""
    if study_dir is not None:
        found = weights_from_study(study_dir)
        if found is not None:
            return found
    weights, acc = train_tiny_model()
    return weights, f"tiny CNN on digits ({TINY_EPOCHS} epochs, test acc {100 * acc:.1f} %)"
