r"""In-memory data sets and a device-side batch loader.

A :class:`DataBundle` holds the train, validation and test splits as tensors. The validation
split is carved from the training data by :func:`carve_validation`: a permutation of the
:math:`N` training indices drawn from a generator seeded with ``val_seed`` only; its first
:math:`n_\text{val} = \operatorname{round}(\text{val\_frac}\cdot N)` indices (at least 1,
at most :math:`N-1`) are the validation part, the rest stay training data (both in their
original order). The model never trains on the validation part; every selection (best epoch,
tuning) reads it, never the test split. :class:`TensorLoader`
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
        x_val, y_val: the validation split (None until :func:`carve_validation`, or given by
            the data set itself, e.g. a user function's bundle).
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
    x_val: torch.Tensor | None = None
    y_val: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.task not in ("classification", "regression"):
            raise ValueError(f"task must be 'classification' or 'regression', got {self.task!r}")
        for a, b in (("x_train", "y_train"), ("x_test", "y_test")):
            if getattr(self, a).shape[0] != getattr(self, b).shape[0]:
                raise ValueError(f"{a} and {b} must have the same length")
        if self.x_train.shape[0] == 0 or self.x_test.shape[0] == 0:
            raise ValueError("train and test splits must be non-empty")
        if (self.x_val is None) != (self.y_val is None):
            raise ValueError("x_val and y_val must be given together")
        if self.x_val is not None:
            if self.x_val.shape[0] != self.y_val.shape[0]:  # type: ignore[union-attr]
                raise ValueError("x_val and y_val must have the same length")
            if self.x_val.shape[0] == 0:
                raise ValueError("the validation split must be non-empty")
        if not self.input_shape:
            self.input_shape = tuple(self.x_train.shape[1:])

    def subset(self, n_train: int | None = None, n_test: int | None = None) -> DataBundle:
        """The first ``n_train`` / ``n_test`` samples (None = all)."""
        import dataclasses

        return dataclasses.replace(
            self, x_train=self.x_train[:n_train], y_train=self.y_train[:n_train],
            x_test=self.x_test[:n_test], y_test=self.y_test[:n_test])


def split_indices(n: int, val_frac: float, val_seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(training indices, validation indices) of ``n`` training samples, each sorted: the
    validation part is the first ``round(val_frac n)`` (clamped to [1, n-1]) entries of a
    permutation seeded by ``val_seed`` only (module docstring)."""
    if isinstance(val_frac, bool) or not isinstance(val_frac, (int, float)) \
            or not 0.0 < val_frac < 1.0:
        raise ValueError(f"val_frac must be a number in (0, 1), got {val_frac!r}")
    if n < 2:
        raise ValueError(f"the training split has {n} sample(s): cannot carve a validation "
                         "split from it")
    n_val = min(n - 1, max(1, round(val_frac * n)))
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(int(val_seed)))
    return perm[n_val:].sort().values, perm[:n_val].sort().values


def carve_validation(bundle: DataBundle, val_frac: float, val_seed: int) -> DataBundle:
    """A copy of ``bundle`` whose validation split is carved from its training split (module
    docstring); a bundle that already has a validation split is returned unchanged.

    Raises:
        ValueError: ``val_frac`` not in (0, 1), or a training split too small to keep a sample
            on both sides.
    """
    import dataclasses

    if bundle.x_val is not None:
        return bundle
    tr_idx, val_idx = split_indices(int(bundle.x_train.shape[0]), val_frac, val_seed)
    return dataclasses.replace(
        bundle, x_train=bundle.x_train[tr_idx], y_train=bundle.y_train[tr_idx],
        x_val=bundle.x_train[val_idx], y_val=bundle.y_train[val_idx],
        meta={**bundle.meta, "val_frac": float(val_frac), "val_seed": int(val_seed)})


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
