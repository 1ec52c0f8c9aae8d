r"""CIFAR-10/100 from a local directory in the standard python-pickle format (never downloads).

Layout read (the official archives, extracted):

- CIFAR-10: ``cifar-10-batches-py/{data_batch_1..5, test_batch}``, each a pickled dict with
  ``b"data"`` (N x 3072 uint8, channel-major 3x32x32) and ``b"labels"``.
- CIFAR-100: ``cifar-100-python/{train, test}`` with ``b"data"`` and ``b"fine_labels"``.

``data_dir`` may be that folder itself or its parent. The files are read with a **restricted
unpickler** (:func:`load_batch`) that resolves only the names the format needs (numpy's array
reconstruction, ``numpy.ndarray``, ``numpy.dtype``, ``_codecs.encode``); any other reference in
a file (a crafted pickle calling ``os.system``, ``exec``, ...) is refused with a ``ValueError``
before anything runs, and the content is then checked (uint8 ``(N, 3072)`` images, N integer
labels in range). Images stay uint8 (N, 3, 32, 32) until a
batch is on the device; the train transform is the papers' augmentation

.. math::

    x \mapsto \mathrm{flip}_{p=1/2}\big(\mathrm{crop}_{32}(\mathrm{pad}_4(x))\big), \qquad
    x \mapsto (x/255 - \mu)/s

(zero padding in pixel space, a uniform random 32x32 window, horizontal flip with probability
1/2), all vectorised over the batch.

SOURCE: released BinaryRelax code, penhunt/binaryrelax ``VGG11-Cifar10.ipynb`` (crop 32 pad 4,
flip, mean (0.4914, 0.4822, 0.4465), std (0.2023, 0.1994, 0.2010)); CIFAR-100 statistics
(0.5071, 0.4865, 0.4409) / (0.2673, 0.2564, 0.2762) are the usual per-channel values of its
training set (not given in the papers).
"""

from __future__ import annotations

import codecs
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


def _np_reconstruct() -> object:
    core = getattr(np, "_core", None) or np.core
    return core.multiarray._reconstruct


#: the only globals a CIFAR batch may reference (python-2 and python-3 pickles, numpy 1 and 2)
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _np_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _np_reconstruct,
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: np.dtype,
    ("_codecs", "encode"): lambda: codecs.encode,
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only :data:`_ALLOWED`; any other global is refused before it can run."""

    def find_class(self, module: str, name: str) -> object:
        make = _ALLOWED.get((module, name))
        if make is None:
            raise pickle.UnpicklingError(f"refers to {module}.{name}, which a CIFAR batch never "
                                         "does (only numpy arrays and plain containers are "
                                         "allowed)")
        return make()


def load_batch(path: str | os.PathLike) -> dict:
    """One CIFAR python batch as a dict, read without running code from the file.

    Raises:
        ValueError: the file is not a pickle of plain containers and numpy arrays (names the
            file and the refused reference), or is truncated / not a pickle at all.
    """
    try:
        with open(path, "rb") as fh:
            d = _RestrictedUnpickler(fh, encoding="bytes").load()
    except pickle.UnpicklingError as exc:
        raise ValueError(f"{str(path)!r} is not a valid CIFAR batch: {exc}") from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            MemoryError, OverflowError) as exc:
        raise ValueError(f"{str(path)!r} is not a valid CIFAR batch (damaged or not a pickle: "
                         f"{type(exc).__name__}: {exc})") from None
    if not isinstance(d, dict):
        raise ValueError(f"{str(path)!r} is not a valid CIFAR batch: holds a "
                         f"{type(d).__name__}, expected a dict")
    return d


def read_cifar_pickles(folder: Path, files: list[str], label_key: bytes,
                       num_classes: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenate pickle batches into uint8 images (N, 3, 32, 32) and int64 labels (N,).

    Each file is read by :func:`load_batch` and checked: ``b"data"`` a uint8 (N, 3072) array,
    ``label_key`` N integers (in ``[0, num_classes)`` when given); ``ValueError`` naming the file
    otherwise.
    """
    xs, ys = [], []
    for f in files:
        d = load_batch(folder / f)
        data, labels = d.get(b"data"), d.get(label_key)
        if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
                or data.shape[1] != 3072:
            got = (f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray)
                   else type(data).__name__)
            raise ValueError(f"{str(folder / f)!r}: b'data' must be a (N, 3072) uint8 array, "
                             f"got {got}")
        try:
            y = np.asarray(labels)
        except (TypeError, ValueError):
            y = np.asarray(None)
        if y.ndim != 1 or y.shape[0] != data.shape[0] or not np.issubdtype(y.dtype, np.integer) \
                or (y.size and (y.min() < 0 or (num_classes and y.max() >= num_classes))):
            raise ValueError(f"{str(folder / f)!r}: {label_key!r} must be {data.shape[0]} integer "
                             f"labels in [0, {num_classes or 'classes'}), got "
                             f"{type(labels).__name__} of shape {y.shape}")
        xs.append(data.reshape(-1, 3, 32, 32))
        ys.append(y.astype(np.int64))
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
    classes = 10 if name == "cifar10" else 100
    xtr, ytr = read_cifar_pickles(folder, train, key, classes)
    xte, yte = read_cifar_pickles(folder, test, key, classes)
    return DataBundle(name, xtr, ytr, xte, yte, num_classes=classes,
                      input_shape=(3, 32, 32),
                      train_transform=CifarTransform(name, augment),
                      test_transform=CifarTransform(name, False),
                      meta={"source": str(folder), "augment": augment})
