r"""Locally generated data: MNIST-1D and the Gaussian teacher of the two-layer model.

MNIST-1D (Greydanus 2020) is generated with the ``mnist1d`` package's ``make_dataset`` (never
``get_dataset``, which downloads): 10 one-dimensional digit templates, randomly padded,
translated, scaled, sheared and corrupted with correlated + iid noise; length 40.

Teacher (STE paper, Yin et al. 2019b; ``docs/math/two-layer-model.md#model``):
:math:`Z_{ij}\sim\mathcal N(0,1)`, :math:`w^*` uniform on the unit sphere,
:math:`v^*\sim\mathcal N(0, I_m)`, labels :math:`y^* = v^{*\top}\mathbf 1\{Zw^*>0\}`.
"""

from __future__ import annotations

import random

import numpy as np
import torch

from qopt.data.bundle import DataBundle

#: the largest generated data set: samples of MNIST-1D (pure-Python generation, ~1e4 per
#: second) and float64 entries of the teacher's inputs (8 bytes each: 800 MB)
MAX_MNIST1D_SAMPLES = 10**6
MAX_TEACHER_ENTRIES = 10**8


def _check_int(name: str, v: object, minimum: int | None = None,
               maximum: int | None = None) -> None:
    """TypeError unless ``v`` is an int (not a bool); ValueError if it is below ``minimum`` or
    above ``maximum``."""
    what = "an int" if minimum is None else ("a positive int" if minimum == 1
                                            else f"an int >= {minimum}")
    if maximum is not None:
        what += f" <= {maximum}"
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{name} must be {what}, got {type(v).__name__} {v!r}")
    if (minimum is not None and v < minimum) or (maximum is not None and v > maximum):
        raise ValueError(f"{name} must be {what}, got {v!r}")


def load_mnist1d(num_samples: int = 5000, train_split: float = 0.8, seed: int = 42,
                 **overrides: object) -> DataBundle:
    """MNIST-1D generated locally (default: the package's 4000/1000 split, seed 42).

    Args:
        num_samples: total samples (train + test), >= 20.
        train_split: fraction used for training, in (0, 1).
        seed: generator seed of ``mnist1d`` (the data set, not the training seed).
        **overrides: other ``mnist1d`` dataset arguments (e.g. ``iid_noise_scale``).

    The package seeds Python's and NumPy's GLOBAL generators; their states are restored after.
    """
    from mnist1d.data import get_dataset_args, make_dataset

    _check_int("num_samples", num_samples, 20, MAX_MNIST1D_SAMPLES)
    _check_int("seed", seed)
    if isinstance(train_split, bool) or not isinstance(train_split, (int, float)):
        raise TypeError(f"train_split must be a float in (0, 1), got "
                        f"{type(train_split).__name__} {train_split!r}")
    if not 0.0 < float(train_split) < 1.0:
        raise ValueError(f"train_split must be in (0, 1), got {train_split!r}")
    args = get_dataset_args()
    args.num_samples, args.train_split, args.seed = num_samples, float(train_split), int(seed)
    for k, v in overrides.items():
        if not hasattr(args, k):
            raise ValueError(f"unknown mnist1d dataset argument {k!r}")
        setattr(args, k, v)
    py_state, np_state = random.getstate(), np.random.get_state()  # noqa: NPY002
    try:
        d = make_dataset(args)
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)  # noqa: NPY002
    return DataBundle(
        "mnist1d",
        torch.from_numpy(np.ascontiguousarray(d["x"], dtype=np.float32)),
        torch.from_numpy(d["y"].astype(np.int64)),
        torch.from_numpy(np.ascontiguousarray(d["x_test"], dtype=np.float32)),
        torch.from_numpy(d["y_test"].astype(np.int64)),
        num_classes=10,
        meta={"source": "mnist1d.make_dataset", "num_samples": num_samples, "seed": seed},
    )


def teacher_labels(z: torch.Tensor, w_star: torch.Tensor, v_star: torch.Tensor) -> torch.Tensor:
    r""":math:`y^* = v^{*\top}\mathbf 1\{Z w^* > 0\}` for a batch Z of shape (B, m, n)."""
    return ((z @ w_star) > 0).to(z.dtype) @ v_star


def load_teacher(m: int = 5, n: int = 4, n_train: int = 4096, n_test: int = 1024,
                 seed: int = 0) -> DataBundle:
    """Samples of the two-layer Gaussian teacher (regression task; ``meta`` holds w*, v*)."""
    for name, v in (("m", m), ("n", n), ("n_train", n_train), ("n_test", n_test)):
        _check_int(name, v, 1)
    _check_int("seed", seed)
    if (n_train + n_test) * m * n > MAX_TEACHER_ENTRIES:
        raise ValueError(f"teacher data of (n_train + n_test) * m * n = "
                         f"{(n_train + n_test) * m * n} entries is more than the "
                         f"{MAX_TEACHER_ENTRIES} allowed (m={m}, n={n}, n_train={n_train}, "
                         f"n_test={n_test})")
    g = torch.Generator().manual_seed(int(seed))
    w_star = torch.randn(n, generator=g, dtype=torch.float64)
    w_star /= w_star.norm()
    v_star = torch.randn(m, generator=g, dtype=torch.float64)
    z = torch.randn(n_train + n_test, m, n, generator=g, dtype=torch.float64)
    y = teacher_labels(z, w_star, v_star)
    z, y = z.float(), y.float()
    return DataBundle("teacher", z[:n_train], y[:n_train], z[n_train:], y[n_train:],
                      num_classes=0, task="regression",
                      meta={"w_star": w_star.tolist(), "v_star": v_star.tolist(), "m": m,
                            "n": n, "seed": seed})
