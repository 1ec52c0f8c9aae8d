r"""CIFAR-10/100 from a local directory in the standard python-pickle format (never downloads).

Layout read (the official archives, extracted):

- CIFAR-10: ``cifar-10-batches-py/{data_batch_1..5, test_batch}``, each a pickled dict with
  ``b"data"`` (N x 3072 uint8, channel-major 3x32x32) and ``b"labels"``.
- CIFAR-100: ``cifar-100-python/{train, test}`` with ``b"data"`` and ``b"fine_labels"``.

``data_dir`` may be that folder itself or its parent. Images stay uint8 (N, 3, 32, 32) until a
batch is on the device; the train transform is the papers' augmentation

.. math::

    x \mapsto \mathrm{flip}_{p=1/2}\big(\mathrm{crop}_{32}(\mathrm{pad}_4(x))\big), \qquad
    x \mapsto (x/255 - \mu)/s

(zero padding in pixel space, a uniform random 32x32 window, horizontal flip with probability
1/2), all vectorised over the batch.

SOURCE: BinaryRelax released notebook (papers.md §B table: crop 32 pad 4, flip, mean (0.4914,
0.4822, 0.4465), std (0.2023, 0.1994, 0.2010)); CIFAR-100 statistics (0.5071, 0.4865, 0.4409) /
(0.2673, 0.2564, 0.2762) are the usual per-channel values of its training set (not given in the
papers).
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import torch

from qopt.data.bundle import DataBundle

CIFAR_STATS = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}
_LAYOUT = {
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"],
                b"labels"),
    "cifar100": ("cifar-100-python", ["train"], ["test"], b"fine_labels"),
}


def cifar_folder(name: str, data_dir: str | os.PathLike | None) -> Path:
    """The folder holding the pickle files; ``ValueError`` naming the directory and the expected
    files when it is missing or incomplete."""
    if name not in _LAYOUT:
        raise ValueError(f"name must be 'cifar10' or 'cifar100', got {name!r}")
    sub, train, test, _ = _LAYOUT[name]
    expected = ", ".join(train + test)
    if data_dir is None:
        raise ValueError(f"dataset {name!r} needs data_dir: a directory with {sub}/ holding "
                         f"{expected} (python-pickle format; qopt never downloads)")
    root = Path(data_dir).expanduser()
    for cand in (root, root / sub):
        if all((cand / f).is_file() for f in train + test):
            return cand
    raise ValueError(f"data_dir {str(root)!r} does not hold the {name} pickle files: expected "
                     f"{expected} in it or in {str(root / sub)!r} (qopt never downloads)")


def read_cifar_pickles(folder: Path, files: list[str], label_key: bytes
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenate pickle batches into uint8 images (N, 3, 32, 32) and int64 labels (N,)."""
    xs, ys = [], []
    for f in files:
        with open(folder / f, "rb") as fh:
            d = pickle.load(fh, encoding="bytes")
        data = np.asarray(d[b"data"], dtype=np.uint8)
        if data.ndim != 2 or data.shape[1] != 3072:
            raise ValueError(f"{folder / f}: b'data' must be (N, 3072) uint8, got {data.shape}")
        xs.append(data.reshape(-1, 3, 32, 32))
        ys.append(np.asarray(d[label_key], dtype=np.int64))
    return torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys))


def normalize_uint8(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """(x/255 - mean)/std per channel, float32."""
    return (x.float().div_(255.0) - mean) / std


def random_crop_flip(x: torch.Tensor, gen: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Batched random crop (zero padding ``pad``) and horizontal flip with probability 1/2.

    One gather for the whole batch: row index ``oy_b + i``, column ``ox_b + j`` (mirrored as
    ``ox_b + W-1-j`` for flipped samples) into the padded batch.
    """
    b, _, h, w = x.shape
    dev = x.device
    xp = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (b,), generator=gen, device=dev)
    ox = torch.randint(0, 2 * pad + 1, (b,), generator=gen, device=dev)
    flip = torch.rand(b, generator=gen, device=dev) < 0.5
    cols = torch.arange(w, device=dev)
    cols = torch.where(flip[:, None], w - 1 - cols, cols) + ox[:, None]  # (B, W)
    rows = oy[:, None] + torch.arange(h, device=dev)  # (B, H)
    bi = torch.arange(b, device=dev)[:, None, None]
    out = xp.permute(0, 2, 3, 1)[bi, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous()


class CifarTransform:
    """Picklable device transform: optional crop+flip, then normalisation."""

    def __init__(self, name: str, augment: bool) -> None:
        self.mean_std = CIFAR_STATS[name]
        self.augment = augment

    def __call__(self, x: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
        mean = torch.tensor(self.mean_std[0], device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(self.mean_std[1], device=x.device).view(1, 3, 1, 1)
        if self.augment and gen is not None:
            x = random_crop_flip(x, gen)
        return normalize_uint8(x, mean, std)


def load_cifar(name: str, data_dir: str | os.PathLike | None, augment: bool = True
               ) -> DataBundle:
    """CIFAR-10 (``name="cifar10"``) or CIFAR-100 (``"cifar100"``) from local pickles."""
    folder = cifar_folder(name, data_dir)
    _, train, test, key = _LAYOUT[name]
    xtr, ytr = read_cifar_pickles(folder, train, key)
    xte, yte = read_cifar_pickles(folder, test, key)
    return DataBundle(name, xtr, ytr, xte, yte, num_classes=10 if name == "cifar10" else 100,
                      input_shape=(3, 32, 32),
                      train_transform=CifarTransform(name, augment),
                      test_transform=CifarTransform(name, False),
                      meta={"source": str(folder), "augment": augment})
