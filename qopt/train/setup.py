r"""Wire a :class:`~qopt.train.config.TrainConfig` to the engine: model, quantization, optimizer.

The order follows the released codes (BinaryRelax: penhunt/binaryrelax ``util/train_net.py``;
BCGD: penhunt/full-quantization-DNN ``BCGD_cifar/main_cifar.py``; UniQ: phuocphn/uniq
``main.py``):

1. build the float model (seeded), optionally load float weights (``init_from``);
2. :func:`qopt.quantize_model`: ReLUs -> quantized ReLUs (``act_bits``); Conv/Linear weights
   marked with the weight set (BinaryConnect / BinaryRelax / BCGD) or swapped for UniQ modules;
   ``keep_float`` layers stay float (default: the last classifier, as in both released codes);
3. :func:`qopt.param_groups`: quantized groups carry ``"qset"``/``"axis"``/``"names"``;
4. base optimizer (SGD with momentum, Adam, or AdamW with decoupled decay) over those groups,
   wrapped in :class:`qopt.QuantOptimizer` with the method and the run length (``float`` and
   ``uniq`` use the base optimizer alone: UniQ quantizes in the forward pass);
5. the per-epoch learning-rate schedule on the base optimizer, with the optional extra factor
   ``phase2_lr_scale`` from the epoch where the method's Phase II starts.
"""

from __future__ import annotations

import hashlib
import inspect
from pathlib import Path
from typing import Any

import torch
from torch import nn

from qopt.data import DataBundle
from qopt.models import build_model
from qopt.train.checkpoint import read_state_file
from qopt.train.config import TrainConfig
from qopt.train.methods import build_method, phase2_epoch
from qopt.train.schedules import build_scheduler


def make_method(cfg: TrainConfig, **_: Any) -> Any:
    """The QuantOptimizer method object of ``cfg.method`` (None for float / uniq)."""
    return build_method(cfg.method, dict(cfg.method_args))


def activation_config(cfg: TrainConfig) -> dict[str, Any] | None:
    """The ``activations=`` argument of :func:`qopt.quantize_model` (None = float ReLUs)."""
    if cfg.act_bits is None:
        return None
    if cfg.method == "uniq":
        return {"quantizer": "uniq", "bits": cfg.act_bits}
    return {"bits": cfg.act_bits, "forward": cfg.act_forward, "ste": cfg.ste,
            "alpha_grad": cfg.alpha_grad, "learn_alpha": cfg.learn_alpha,
            "alpha": cfg.act_alpha, "init": cfg.act_init,
            "alpha_grad_rate": cfg.alpha_grad_rate, "alpha_grad_clip": cfg.alpha_grad_clip,
            "alpha_min": cfg.alpha_min}


def init_file(init_from: str) -> Path:
    """The state-dict file named by ``init_from`` (a run directory means its ``model.pt``; of a
    finished run, its files are first checked against its ``manifest.json``:
    :class:`~qopt.train.manifest.RunDamaged` naming a damaged file)."""
    path = Path(init_from)
    if path.is_dir():
        if (path / "result.json").exists():
            from qopt.train.manifest import read_finished_run

            read_finished_run(path)
        path = path / "model.pt"
    if not path.exists():
        raise ValueError(f"init_from {init_from!r}: no such file (expected a run directory "
                         "with model.pt, or a state-dict .pt file)")
    from qopt.io import open_regular

    open_regular(path, f"init_from {str(path)!r}").close()  # a FIFO or device: refused
    return path


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes (hex)."""
    from qopt.io import open_regular

    h = hashlib.sha256()
    with open_regular(path) as fh:  # a regular file only: never blocks on a FIFO
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_init(model: nn.Module, init_from: str) -> str:
    """Load float weights from a run directory (its ``model.pt``) or a state-dict file, read
    with ``torch.load(weights_only=True)`` (tensors and containers only: a file is data, never
    code; :func:`qopt.train.checkpoint.read_state_file`). Returns the file's SHA-256."""
    path = init_file(init_from)
    sd = read_state_file(path, f"init_from {init_from!r}")
    if isinstance(sd, dict) and "model" in sd and isinstance(sd["model"], dict):
        sd = sd["model"]
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise ValueError(f"init_from {init_from!r} does not hold a state dict (name -> tensor)")
    try:
        model.load_state_dict(sd)
    except RuntimeError as exc:
        raise ValueError(f"init_from {init_from!r} does not match model {type(model).__name__}:"
                         f" {str(exc).splitlines()[0]}") from None
    return file_sha256(path)


def build_float_model(cfg: TrainConfig, bundle: DataBundle) -> nn.Module:
    """The float model of ``cfg`` for ``bundle``: a registered model, or the user's class
    ``package.module:Class`` called as ``Class(input_shape, num_classes, **model_args)``."""
    num_classes = max(bundle.num_classes, 1)
    if cfg.is_user_model:
        from qopt.train.validation import resolve_model_class

        cls = resolve_model_class(cfg.model)
        try:
            model = cls(tuple(bundle.input_shape), num_classes, **cfg.model_args)
        except TypeError as exc:
            raise ValueError(f"model {cfg.model!r}: {exc} (the constructor contract is "
                             "Class(input_shape, num_classes, **model_args))") from None
        if not isinstance(model, nn.Module):
            raise ValueError(f"model {cfg.model!r} returned a {type(model).__name__}, not a "
                             "torch.nn.Module")
    else:
        try:
            model = build_model(cfg.model, bundle.input_shape, num_classes, **cfg.model_args)
        except (MemoryError, RuntimeError) as exc:  # e.g. hidden=[10**9]: can't allocate
            if not isinstance(exc, MemoryError) and "allocate" not in str(exc):
                raise
            raise ValueError(f"model {cfg.model!r} with model_args {cfg.model_args} does not "
                             f"fit in memory: {str(exc).splitlines()[0][:200]}") from None
    check_model_fits(model, bundle, cfg.model)
    return model


def check_model_fits(model: nn.Module, bundle: DataBundle, name: str) -> None:
    """One forward pass of two training samples (evaluation mode, no gradient: no state and no
    random number changes) before training, so that a model that does not fit the data (a 1-D
    CNN on 8x8 images) is one line naming both, not a traceback from inside the first step.
    A classifier must return ``(batch, num_classes)`` logits.

    Raises:
        ValueError: the forward pass fails or returns the wrong shape.
    """
    xs = getattr(bundle, "x_train", None)  # a shape-only bundle (benchmarks): nothing to try
    x = xs[:2] if isinstance(xs, torch.Tensor) else None
    if x is None or x.shape[0] == 0:
        return
    what = (f"model {name!r} does not fit dataset {bundle.name!r} (samples of shape "
            f"{tuple(bundle.input_shape)}, {bundle.num_classes} classes)")
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            if bundle.test_transform is not None:
                x = bundle.test_transform(x, None)
            out = model(x)
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{what}: {first}") from None
    finally:
        model.train(was)
    if bundle.task != "regression":
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        if shape != (x.shape[0], bundle.num_classes):
            raise ValueError(f"{what}: it returns {shape} for a batch of {x.shape[0]}, not "
                             f"({x.shape[0]}, {bundle.num_classes}) logits")


def quantize_for(cfg: TrainConfig, model: nn.Module) -> nn.Module:
    """Apply ``cfg``'s weight / activation quantization to a float model (in place)."""
    import qopt

    if cfg.method == "float":
        weights: Any = None
    elif cfg.method == "uniq":
        weights = f"uniq:{cfg.uniq_bits()}"
    else:
        from theory.sets import parse_qset

        weights = parse_qset(cfg.weights)
    acts = activation_config(cfg)
    if weights is not None or acts is not None:
        qopt.quantize_model(model, weights=weights, axis=cfg.axis, activations=acts,
                            keep_float=cfg.keep_float,
                            group_size=cfg.group_size if weights is not None
                            and not isinstance(weights, str) else None)
    return model


def build_model_for(cfg: TrainConfig, bundle: DataBundle) -> nn.Module:
    """Float model of ``cfg`` for ``bundle`` (with ``init_from`` loaded), quantized per
    ``cfg`` (not yet on a device)."""
    model = build_float_model(cfg, bundle)
    if cfg.init_from:
        load_init(model, cfg.init_from)
    return quantize_for(cfg, model)


def _base_optimizer(cfg: TrainConfig, groups: list[dict[str, Any]]) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum,
                               nesterov=cfg.nesterov and cfg.momentum > 0,
                               weight_decay=cfg.weight_decay)
    cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    return cls(groups, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps,
               weight_decay=cfg.weight_decay)


def quant_optimizer(base: torch.optim.Optimizer, method: Any, epochs: int,
                    steps_per_epoch: int, nonfinite: str = "raise") -> Any:
    """``QuantOptimizer(base, method, epochs=, steps_per_epoch=, nonfinite=)`` (contract C2);
    an engine without those keywords gets only the ones it accepts."""
    import qopt

    params = inspect.signature(qopt.QuantOptimizer).parameters
    kw = {k: v for k, v in (("epochs", epochs), ("steps_per_epoch", steps_per_epoch),
                            ("nonfinite", nonfinite)) if k in params}
    return qopt.QuantOptimizer(base, method, **kw)


def build_optimizer(cfg: TrainConfig, model: nn.Module, steps_per_epoch: int = 1
                    ) -> tuple[Any, Any]:
    """(optimizer, per-epoch scheduler). The optimizer is a QuantOptimizer for
    BinaryConnect/BinaryRelax/BCGD, else the base optimizer. ``steps_per_epoch`` ties the
    method's schedule to the run (C2)."""
    import qopt

    if cfg.method == "float" and cfg.act_bits is None:
        groups: list[dict[str, Any]] = [{"params": list(model.parameters())}]
    else:
        group_kw: dict[str, Any] = {"weight_decay": cfg.weight_decay}
        if cfg.no_decay_steps:
            group_kw["no_decay"] = ("delta", "alpha")
        groups = [g for g in qopt.param_groups(model, **group_kw) if len(g["params"]) > 0]
    base = _base_optimizer(cfg, groups)
    method = make_method(cfg)
    opt = quant_optimizer(base, method, cfg.epochs, steps_per_epoch, cfg.nonfinite) \
        if method is not None else base
    p2 = phase2_epoch(opt) if method is not None else None
    sched = build_scheduler(base, cfg.schedule, cfg.epochs, cfg.lr, cfg.milestones, cfg.gamma,
                            cfg.warmup_epochs, cfg.warmup_lr, phase2_epoch=p2,
                            phase2_scale=cfg.phase2_lr_scale)
    return opt, sched


def is_quant_optimizer(opt: Any) -> bool:
    """True for a QuantOptimizer (has eval_quantized / end_epoch)."""
    return hasattr(opt, "eval_quantized") and hasattr(opt, "end_epoch")


#: Calibration batches of UniQ's ``simple_initialization`` (released UniQ code default,
#: phuocphn/uniq ``main.py``).
UNIQ_CALIBRATION_BATCHES = 100


def calibrate_uniq_steps(model: nn.Module, bundle: DataBundle, batch_size: int,
                         device: torch.device) -> None:
    """UniQ's data-driven step initialisation (Gaussian-optimal constants × data statistics).

    Runs before DDP wrapping on the same unshuffled training batches on every rank, so every
    rank computes identical steps without communication; a resumed run skips it (the steps come
    from the checkpoint).
    """
    from qopt.data import TensorLoader
    from qopt.nn import calibrate_uniq

    calib = TensorLoader(bundle.x_train, bundle.y_train, batch_size, shuffle=False,
                         device=device, transform=bundle.test_transform)
    model.train()
    calibrate_uniq(model, calib, num_batches=UNIQ_CALIBRATION_BATCHES)
