"""The released codes' training protocol, scaled to a given number of epochs.

Released BinaryRelax code (penhunt/binaryrelax, ``VGG11-Cifar10.ipynb``, ``util/train_net.py``)
and BCGD code (penhunt/full-quantization-DNN, ``BCGD_cifar/config.py``): SGD lr 0.1, momentum
0.9 (BCGD: 0.95), weight decay 1e-4, batch 128, 200 epochs, MultiStepLR at epochs 80 and 140
(×0.1 each), quantized training started from a float model trained with the same schedule.
BinaryRelax: λ multiplied by 1.04 every epoch from 1 and Phase II (exact quantization) from epoch
150, so λ ≈ 1.04¹⁵⁰ ≈ 358 when Phase II starts and Phase II runs at lr 1e-3. BCGD: ρ = 1e-5
constant.

Scaled to E epochs here: milestones at round(0.4 E) and round(0.7 E), Phase II at
round(0.75 E), and the λ growth factor chosen so that λ reaches the same ≈ 358 at Phase II:
growth = 358^(1/P).
"""

from __future__ import annotations

__all__ = ["BCGD_ARGS", "LAM_MAX", "RELEASED_SGD", "binaryrelax_args", "multistep",
           "phase2_epoch"]

#: released SGD settings (BinaryRelax and BCGD codes; BCGD uses momentum 0.95)
RELEASED_SGD = {"optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4,
                "batch_size": 128}
#: λ when Phase II starts in the released BinaryRelax run
LAM_MAX = 1.04 ** 150
#: released BCGD blending parameter (README demo ``--rho 1e-5``; constant)
BCGD_ARGS = {"rho": 1e-5}


def _round(x: float) -> int:
    return int(x + 0.5)


def multistep(epochs: int) -> dict:
    """MultiStepLR fields at 80/200 and 140/200 of ``epochs`` (×0.1 each; duplicates merged)."""
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    ms = sorted({m for m in (_round(0.4 * epochs), _round(0.7 * epochs)) if 1 <= m < epochs})
    if not ms:
        return {"schedule": "constant", "milestones": [], "gamma": 0.1}
    return {"schedule": "multistep", "milestones": ms, "gamma": 0.1}


def phase2_epoch(epochs: int) -> int:
    """Epoch at which BinaryRelax's Phase II starts: round(0.75 E), at least 1."""
    return max(1, _round(0.75 * epochs))


def binaryrelax_args(epochs: int) -> dict:
    """BinaryRelax ``method_args`` for E epochs: λ0 = 1, growth = LAM_MAX^(1/P), Phase II at P."""
    p = phase2_epoch(epochs)
    return {"lam0": 1.0, "growth": round(LAM_MAX ** (1.0 / p), 6), "per": "epoch",
            "phase2_at": p}
