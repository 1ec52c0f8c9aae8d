"""A user's own data functions for the ``dataset = "package.module:function"`` tests."""

import torch

from qopt.data import DataBundle


def blobs(n: int = 300, seed: int = 0, val_labels_shift: int = 0, test_labels_shift: int = 0,
          own_val: bool = False, test_label_perm: int | None = None) -> DataBundle:
    """Three Gaussian blobs in 8 dimensions; 80% train / 20% test. ``own_val``: the bundle
    brings its own validation split (the last 60 training samples). ``*_labels_shift``: the
    validation / test labels rotated by that many classes (a leak check: training must not
    change). ``test_label_perm``: the test labels permuted among the test samples by a
    permutation seeded with it."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    x = torch.randn(n, 8, generator=g) + 2.0 * torch.nn.functional.one_hot(y, 8).float()
    k = n * 4 // 5
    kw = {}
    xtr, ytr = x[:k], y[:k]
    if own_val:
        kw = {"x_val": xtr[-60:], "y_val": (ytr[-60:] + val_labels_shift) % 3}
        xtr, ytr = xtr[:-60], ytr[:-60]
    yte = (y[k:] + test_labels_shift) % 3
    if test_label_perm is not None:
        yte = yte[torch.randperm(len(yte), generator=torch.Generator().manual_seed(
            test_label_perm))]
    return DataBundle("blobs", xtr, ytr, x[k:], yte, num_classes=3,
                      meta={"n": n}, **kw)


def not_a_bundle(**_):
    return [1, 2, 3]
