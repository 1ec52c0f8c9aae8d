r"""In-memory data sets and a device-side batch loader.

A :class:`DataBundle` holds the whole train and test split as tensors. :class:`TensorLoader`
moves a split to the device ONCE and yields mini-batches by indexing: the permutation of epoch
:math:`e` is drawn from a generator seeded with :math:`(\text{seed}, e)` only, so the data order
of any epoch is reproducible without replaying earlier epochs (exact resume from a checkpoint).

Under data parallelism (``world > 1``) ``batch_size`` is the GLOBAL batch: every global batch of
the shared permutation is split into ``world`` equal contiguous slices and rank r takes slice r,
so the union of the ranks' batches is exactly the single-process batch (DDP's gradient mean then
equals the single-process mean-loss gradient).

SOURCE: derived here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch

#: train-time batch transform ``f(x, generator) -> x`` run on the device
BatchTransform = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


@dataclass
class DataBundle:
    """A data set in memory.

    Attributes:
        name: registry name.
        x_train, y_train, x_test, y_test: CPU tensors (x may be uint8 raw pixels).
        num_classes: classes (0 for a regression task).
        task: ``"classification"`` (cross-entropy, accuracy) or ``"regression"`` (½ squared error).
        input_shape: shape of one (transformed) sample.
        train_transform: device batch transform for training (augmentation + normalisation).
        test_transform: device batch transform for evaluation (normalisation only).
        meta: free-form description (source, sizes) written into the run's config.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    task: str = "classification"
    input_shape: tuple[int, ...] = ()
    train_transform: BatchTransform | None = None
    test_transform: BatchTransform | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.task not in ("classification", "regression"):
            raise ValueError(f"task must be 'classification' or 'regression', got {self.task!r}")
        for a, b in (("x_train", "y_train"), ("x_test", "y_test")):
            if getattr(self, a).shape[0] != getattr(self, b).shape[0]:
                raise ValueError(f"{a} and {b} must have the same length")
        if self.x_train.shape[0] == 0 or self.x_test.shape[0] == 0:
            raise ValueError("train and test splits must be non-empty")
        if not self.input_shape:
            self.input_shape = tuple(self.x_train.shape[1:])

    def subset(self, n_train: int | None = None, n_test: int | None = None) -> DataBundle:
        """The first ``n_train`` / ``n_test`` samples (None = all)."""
        import dataclasses

        return dataclasses.replace(
            self, x_train=self.x_train[:n_train], y_train=self.y_train[:n_train],
            x_test=self.x_test[:n_test], y_test=self.y_test[:n_test])


def epoch_generator(seed: int, epoch: int, salt: int = 0, device: str | torch.device = "cpu"
                    ) -> torch.Generator:
    """A generator seeded by (seed, epoch, salt) only: 64-bit mix, reproducible anywhere."""
    g = torch.Generator(device=device)
    g.manual_seed((seed * 1_000_003 + epoch * 7919 + salt * 104_729) % (2**63 - 1))
    return g


class TensorLoader:
    """Mini-batches of a tensor split, on ``device``, sharded over ``world`` ranks.

    Args:
        x, y: the split (CPU or device tensors, same length).
        batch_size: GLOBAL batch size (divisible by ``world``).
        shuffle: draw a fresh permutation each epoch (train) or keep the order (eval).
        drop_last: drop the last incomplete global batch.
        seed: data seed (the permutation of epoch e depends on (seed, e) only).
        device: where batches live.
        rank, world: data-parallel position; ``world = 1`` for a single process.
        transform: optional device batch transform (gets a generator seeded by (seed, e, rank)).
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, *, shuffle: bool,
                 drop_last: bool = False, seed: int = 0, device: str | torch.device = "cpu",
                 rank: int = 0, world: int = 1, transform: BatchTransform | None = None) -> None:
        if batch_size <= 0 or batch_size % world:
            raise ValueError(f"batch_size must be a positive multiple of the world size {world}, "
                             f"got {batch_size}")
        if len(x) != len(y):
            raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
        self.device = torch.device(device)
        self.x, self.y = x.to(self.device), y.to(self.device)
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.seed, self.rank, self.world, self.transform = seed, rank, world, transform
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the permutation (and augmentation stream) of ``epoch``."""
        self.epoch = epoch

    def __len__(self) -> int:
        n = self.x.shape[0]
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = self.x.shape[0]
        if self.shuffle:
            order = torch.randperm(n, generator=epoch_generator(self.seed, self.epoch))
            order = order.to(self.device)
        else:
            order = torch.arange(n, device=self.device)
        gen = None
        if self.transform is not None:
            gen = epoch_generator(self.seed, self.epoch, salt=1 + self.rank,
                                  device=self.device)
        for b in range(len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            per = -(-idx.shape[0] // self.world)
            idx = idx[self.rank * per:(self.rank + 1) * per]
            if idx.numel() == 0:  # a short last batch split over many ranks (eval only)
                continue
            xb, yb = self.x[idx], self.y[idx]
            if self.transform is not None:
                xb = self.transform(xb, gen)  # type: ignore[arg-type]
            yield xb, yb
