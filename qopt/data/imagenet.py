"""ImageNet-style class folders (``train/<class>/*.jpg``, ``val/<class>/*.jpg``).

Optional: only when ``torchvision`` is importable (``ImageFolder`` + standard transforms:
RandomResizedCrop(224) + flip for training, Resize(256) + CenterCrop(224) for evaluation,
ImageNet mean/std). Batches come from a ``DataLoader`` with a ``DistributedSampler`` under DDP.

SOURCE: the UniQ released code's ImageNet pipeline (phuocphn/uniq ``main.py``, torchvision
defaults; ``docs/math/released-protocols.md#uniq``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import torch

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def imagenet_folder(data_dir: str | os.PathLike | None) -> Path:
    """Check torchvision and the folder layout; ``ValueError`` with what is expected."""
    try:
        import torchvision  # noqa: F401
    except ImportError as exc:
        raise ValueError("dataset 'imagenet' needs torchvision (optional extra): "
                         "pip install torchvision") from exc
    if data_dir is None:
        raise ValueError("dataset 'imagenet' needs data_dir with train/ and val/ class folders")
    root = Path(data_dir).expanduser()
    if not ((root / "train").is_dir() and (root / "val").is_dir()):
        raise ValueError(f"data_dir {str(root)!r} must hold train/ and val/ class folders "
                         "(ImageNet layout; qopt never downloads)")
    return root


class FolderLoader:
    """DataLoader over an ImageFolder split yielding device batches; same interface as
    :class:`qopt.data.bundle.TensorLoader` (``set_epoch``, ``len``, iteration).

    ``train=True`` reads ``train/``, ``train=False`` ``val/`` (ImageNet's labelled validation
    set, which qopt uses as the TEST split). ``subset`` carves qopt's validation split from
    ``train/`` by index (:func:`qopt.data.bundle.split_indices` with ``val_frac``,
    ``val_seed``): ``"fit"`` = the images trained on, ``"val"`` = the held-out ones (read with
    the evaluation transform); None = the whole folder."""

    def __init__(self, root: Path, train: bool, batch_size: int, seed: int, device: torch.device,
                 rank: int, world: int, workers: int = 4, subset: str | None = None,
                 val_frac: float = 0.1, val_seed: int = 0) -> None:
        from torchvision import datasets
        from torchvision import transforms as T

        if subset not in (None, "fit", "val"):
            raise ValueError(f"subset must be None, 'fit' or 'val', got {subset!r}")
        if subset is not None and not train:
            raise ValueError("subset splits train/ (train=True); val/ is the test split")
        norm = T.Normalize(IMAGENET_MEAN, IMAGENET_STD)
        augment = train and subset != "val"
        tf = (T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(), T.ToTensor(), norm])
              if augment else T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), norm]))
        self.ds = datasets.ImageFolder(str(root / ("train" if train else "val")), tf)
        if subset is not None:
            from qopt.data.bundle import split_indices

            fit, val = split_indices(len(self.ds), val_frac, val_seed)
            self.ds = torch.utils.data.Subset(self.ds, (fit if subset == "fit" else val).tolist())
        train = augment
        self.sampler = torch.utils.data.DistributedSampler(
            self.ds, num_replicas=world, rank=rank, shuffle=train, seed=seed)
        self.loader = torch.utils.data.DataLoader(
            self.ds, batch_size=batch_size // world, sampler=self.sampler, num_workers=workers,
            pin_memory=device.type == "cuda", drop_last=train)
        self.device = device

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for x, y in self.loader:
            yield (x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True))
