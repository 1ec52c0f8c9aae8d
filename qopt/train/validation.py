"""Validation of a :class:`~qopt.train.config.TrainConfig`: every field, before any training.

Order: field types (from the field metadata), closed choices, then the checks that need the
engine (data directory, model registry or user class, weight set, the method's own argument
checks, one quantized activation built with the activation options). Every error is a
``ValueError``/``TypeError`` whose message starts with the field name.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from qopt.suggest import did_you_mean
from qopt.train import fields as F
from qopt.train.config import (
    MAX_ACT_BITS,
    TrainConfig,
    int_in,
    is_model_path,
    positive,
)

_PY_TYPES = {"str": (str,), "int": (int,), "float": (int, float), "bool": (bool,),
             "dict": (dict,), "list": (tuple, list)}


def validate_config(cfg: TrainConfig) -> None:
    """Check every field of ``cfg`` (see the module docstring)."""
    _check_types(cfg)
    _check_choices(cfg)
    _check_numbers(cfg)
    _check_model(cfg)
    if cfg.is_user_dataset:
        resolve_dataset_function(cfg.dataset)
    else:
        from qopt.data import check_data

        check_data(cfg.dataset, cfg.data_dir, cfg.dataset_args)
    _check_weights(cfg)
    _check_engine_args(cfg)


def _check_types(cfg: TrainConfig) -> None:
    for f in dataclasses.fields(cfg):
        v, m = getattr(cfg, f.name), f.metadata
        if v is None and m.get("nullable"):
            continue
        ok = isinstance(v, _PY_TYPES[m["kind"]])
        if m["kind"] in ("int", "float") and isinstance(v, bool):
            ok = False
        if not ok:
            expect = {"int": "an int", "float": "a float", "str": "a string", "bool": "a bool",
                      "dict": "a table", "list": "a list"}[m["kind"]]
            expect += " or none" if m.get("nullable") else ""
            raise TypeError(f"{f.name} must be {expect}, got {type(v).__name__} {v!r}")
        if m["kind"] == "float" and not math.isfinite(v):
            raise ValueError(f"{f.name} must be finite, got {v!r}")


def _check_choices(cfg: TrainConfig) -> None:
    if not cfg.is_user_dataset and cfg.dataset not in F.DATASETS:
        raise ValueError(f"dataset must be one of {F.DATASETS} or 'package.module:function', "
                         f"got {cfg.dataset!r}")
    for name in ("method", "act_forward", "ste", "alpha_grad", "act_init",
                 "optimizer", "schedule", "amp", "nonfinite"):
        v = getattr(cfg, name)
        choices = TrainConfig.__dataclass_fields__[name].metadata["choices"]
        if v is not None and v not in choices:
            alias = f" (aliases {sorted(F.ALIASES)})" if name == "method" else ""
            raise ValueError(f"{name} must be one of {choices}{alias}, got {v!r}"
                             f"{did_you_mean(v, choices)}")
    dev = cfg.device
    if not (dev in ("auto", "cpu", "mps", "cuda") or (dev.startswith("cuda:")
                                                      and dev[5:].isdigit())):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda', 'cuda:<i>' or 'mps', got "
                         f"{dev!r}")
    if not all(isinstance(k, str) for k in cfg.keep_float):
        raise TypeError(f"keep_float must be a list of module names, got {cfg.keep_float!r}")
    if not all(isinstance(m, int) and not isinstance(m, bool) for m in cfg.milestones):
        raise TypeError(f"milestones must be a list of ints, got {cfg.milestones!r}")


def _check_numbers(cfg: TrainConfig) -> None:
    positive("lr", cfg.lr)
    for name in ("momentum", "weight_decay"):
        if not getattr(cfg, name) >= 0:
            raise ValueError(f"{name} must be a number >= 0, got {getattr(cfg, name)!r}")
    if len(cfg.betas) != 2 or not all(isinstance(b, (int, float)) and not isinstance(b, bool)
                                      and 0.0 <= b < 1.0 for b in cfg.betas):
        raise ValueError(f"betas must be two numbers in [0, 1), got {list(cfg.betas)!r}")
    positive("eps", cfg.eps)
    positive("phase2_lr_scale", cfg.phase2_lr_scale)
    positive("alpha_min", cfg.alpha_min)
    if not 0.0 <= cfg.max_skip_frac <= 1.0:
        raise ValueError(f"max_skip_frac must be a share in [0, 1], got {cfg.max_skip_frac!r}")
    for name in ("act_alpha", "alpha_grad_rate", "alpha_grad_clip"):
        if getattr(cfg, name) is not None:
            positive(name, getattr(cfg, name))
    int_in("batch_size", cfg.batch_size, 1, 1 << 24)
    int_in("epochs", cfg.epochs, 1, 1 << 20)
    int_in("seed", cfg.seed, 0, 2**63 - 1)
    int_in("val_seed", cfg.val_seed, 0, 2**63 - 1)
    if not 0.0 < cfg.val_frac < 1.0:
        raise ValueError(f"val_frac must be in (0, 1) (the validation share of the training "
                         f"data), got {cfg.val_frac!r}")
    int_in("diag_every", cfg.diag_every, 0, 1 << 30)
    int_in("log_every", cfg.log_every, 0, 1 << 30)
    int_in("bn_recalib_batches", cfg.bn_recalib_batches, 0, 1 << 30)
    if cfg.num_threads is not None:
        int_in("num_threads", cfg.num_threads, 1, 1024)
    if cfg.act_bits is not None:
        int_in("act_bits", cfg.act_bits, 1, MAX_ACT_BITS)
    from qopt.train.schedules import check_schedule

    check_schedule(cfg.schedule, cfg.epochs, cfg.milestones, cfg.gamma, cfg.warmup_epochs,
                   cfg.warmup_lr)


def _check_model(cfg: TrainConfig) -> None:
    if cfg.is_user_model:
        resolve_model_class(cfg.model)
    elif cfg.model not in F.MODELS:
        raise ValueError(f"model must be one of {sorted(F.MODELS)} or 'package.module:Class', "
                         f"got {cfg.model!r}")


def resolve_callable(spec: str, what: str, contract: str) -> Any:
    """The callable named by ``package.module:attr`` (``what``: the field, ``"model"`` or
    ``"dataset"``; ``contract``: the form expected, for the messages). Imported from
    installed packages and ``PYTHONPATH`` only, never from the working directory
    (:func:`qopt._imports.import_attr`); a file path is refused: it is code the user chose to
    install, never a data file. The one import helper of user models and user data sets."""
    if not is_model_path(spec):
        raise ValueError(f"{what} must be a registered name or '{contract}' (dotted "
                         f"identifiers, not a file path), got {spec!r}")
    from qopt._imports import import_attr

    obj = import_attr(spec, what)  # never from the working directory (qopt._imports)
    if not callable(obj):
        raise ValueError(f"{what} {spec!r} is not callable")
    return obj


def resolve_model_class(spec: str) -> Any:
    """The model class named by ``package.module:Class`` (:func:`resolve_callable`)."""
    return resolve_callable(spec, "model", "package.module:Class")


def resolve_dataset_function(spec: str) -> Any:
    """The data function named by ``package.module:function`` (:func:`resolve_callable`);
    called as ``function(**dataset_args)``, it returns a :class:`qopt.data.DataBundle`."""
    return resolve_callable(spec, "dataset", "package.module:function")


def _check_weights(cfg: TrainConfig) -> None:
    from theory.sets import parse_qset

    gs = getattr(cfg, "group_size", None)
    if gs is not None:
        int_in("group_size", gs, 1, 2**40)
        if cfg.method in ("float", "uniq"):
            raise ValueError(f"group_size: method {cfg.method!r} has no weight set to split "
                             f"into blocks, got group_size={gs}")
    if cfg.method == "float":
        if cfg.weights is not None:
            raise ValueError(f"weights: method 'float' takes no weights set, got "
                             f"{cfg.weights!r}")
        return
    if cfg.weights is None:
        raise ValueError(f"weights: method {cfg.method!r} needs a weights set (e.g. 'binary', "
                         "'ternary', 'uniform:4', 'symmetric:2')")
    if cfg.method == "uniq":
        cfg.uniq_bits()
        return
    try:
        parse_qset(cfg.weights)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"weights: {exc}") from exc


def method_arg_names(method: str) -> tuple[str, ...]:
    """Names of the method arguments accepted by ``method`` (``()`` for float / uniq)."""
    from qopt.train.methods import method_arg_fields

    return tuple(name for name, *_ in method_arg_fields(method))


def _check_engine_args(cfg: TrainConfig) -> None:
    """Unknown method arguments, then the method's and the activation module's own checks
    (e.g. ``rho`` out of range, a non-positive ``act_alpha``) fire before training."""
    from qopt.train.methods import ENGINE_NAME

    if cfg.nonfinite == "skip" and ENGINE_NAME.get(cfg.method) is None:
        raise ValueError(f"nonfinite: 'skip' needs a QuantOptimizer method (skipping is done "
                         f"on device by the optimizer), not {cfg.method!r}; use 'raise'")
    accepted = method_arg_names(cfg.method)
    extra = sorted(set(cfg.method_args) - set(accepted))
    if extra:
        raise ValueError(f"method_args: unknown {extra} for method {cfg.method!r}; accepted: "
                         f"{list(accepted)}")
    from qopt.train.setup import activation_config, make_method, quant_optimizer

    try:
        method = make_method(cfg)
        if method is not None:  # the run-length checks of the schedule (contract C2)
            import torch

            from theory.sets import Binary

            p = torch.nn.Parameter(torch.ones(2))
            quant_optimizer(torch.optim.SGD([{"params": [p], "qset": Binary()}], lr=cfg.lr),
                            method, cfg.epochs, 1)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"method_args: {exc}") from exc
    acts = activation_config(cfg)
    if acts is not None and cfg.method != "uniq":
        from qopt.nn import QuantReLU

        try:
            QuantReLU(**acts)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"activation settings: {exc}") from exc
