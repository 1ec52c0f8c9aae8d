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
    :class:`qopt.data.bundle.TensorLoader` (``set_epoch``, ``len``, iteration)."""

    def __init__(self, root: Path, train: bool, batch_size: int, seed: int, device: torch.device,
                 rank: int, world: int, workers: int = 4) -> None:
        from torchvision import datasets
        from torchvision import transforms as T

        norm = T.Normalize(IMAGENET_MEAN, IMAGENET_STD)
        tf = (T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(), T.ToTensor(), norm])
              if train else T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), norm]))
        self.ds = datasets.ImageFolder(str(root / ("train" if train else "val")), tf)
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
