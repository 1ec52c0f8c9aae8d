r"""The data of a run: the named data set (or the user's function), with its validation split.

``dataset`` is a registered name (:data:`qopt.data.DATASETS`) or ``"package.module:function"``:
a function on the Python path (imported like a user model, by the one import helper
:func:`qopt.train.validation.resolve_callable`; never a file path) called as
``function(**dataset_args)`` that returns a :class:`qopt.data.DataBundle`::

    # mypkg/data.py (installed, or on PYTHONPATH)
    import torch
    from qopt.data import DataBundle

    def blobs(n: int = 600, seed: int = 0) -> DataBundle:
        g = torch.Generator().manual_seed(seed)
        y = torch.randint(0, 3, (n,), generator=g)
        x = torch.randn(n, 8, generator=g) + 2.0 * torch.nn.functional.one_hot(y, 8)
        k = n * 4 // 5
        return DataBundle("blobs", x[:k], y[:k], x[k:], y[k:], num_classes=3)

    # qopt train --dataset mypkg.data:blobs --dataset-args n=900 --model mlp

Every bundle then gets its validation split (:func:`qopt.data.carve_validation`, ``val_frac``
and ``val_seed``, both part of the run's identity) unless it brings its own (``x_val``,
``y_val``; then ``val_frac``/``val_seed`` do not apply and the record says so). The data's
SHA-256 (recorded, checked on resume) covers all three splits.
"""

from __future__ import annotations

from typing import Any

from qopt.data import DataBundle, carve_validation, load_data


def load_source(cfg: Any) -> DataBundle:
    """The data set of ``cfg`` as its source gives it (before the validation split)."""
    if not cfg.is_user_dataset:
        return load_data(cfg.dataset, cfg.data_dir, **cfg.dataset_args)
    from qopt.train.validation import resolve_dataset_function

    fn = resolve_dataset_function(cfg.dataset)
    try:
        bundle = fn(**cfg.dataset_args)
    except TypeError as exc:
        raise ValueError(f"dataset {cfg.dataset!r}: {exc} (the contract is "
                         "function(**dataset_args) -> qopt.data.DataBundle)") from None
    if not isinstance(bundle, DataBundle):
        raise ValueError(f"dataset {cfg.dataset!r} returned a {type(bundle).__name__}, not a "
                         "qopt.data.DataBundle")
    return bundle


def load_run_data(cfg: Any) -> DataBundle:
    """The run's data: :func:`load_source`, then the validation split carved from the
    training split by ``cfg.val_frac`` / ``cfg.val_seed`` (module docstring)."""
    src = load_source(cfg)
    if src.x_val is not None:
        import dataclasses

        return dataclasses.replace(src, meta={**src.meta, "val_split": "given by the data set"})
    return carve_validation(src, cfg.val_frac, cfg.val_seed)
