r"""Wire a :class:`~qopt.train.config.TrainConfig` to the engine: model, quantization, optimizer.

The order follows the released codes (papers.md §B-D):

1. build the float model (seeded), optionally load a float checkpoint (``init_from``);
2. :func:`qopt.quantize_model`: ReLUs -> quantized ReLUs (``act_bits``); Conv/Linear weights
   marked with the weight set (BinaryConnect / BinaryRelax / BCGD) or swapped for UniQ modules;
   ``keep_float`` layers stay float (default: the last classifier, as in BRc/BCc);
3. :func:`qopt.param_groups`: quantized groups carry ``"qset"``/``"axis"``/``"names"``;
4. base optimizer (SGD with momentum, or Adam) over those groups, wrapped in
   :class:`qopt.QuantOptimizer` with the method (``float`` and ``uniq`` use the base optimizer
   alone: UniQ quantizes in the forward pass);
5. the per-epoch learning-rate schedule on the base optimizer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from qopt.data import DataBundle
from qopt.models import build_model
from qopt.train.checkpoint import read_state_file
from qopt.train.config import TrainConfig
from qopt.train.schedules import build_scheduler


def make_method(cfg: TrainConfig) -> Any:
    """The QuantOptimizer method object of ``cfg.method`` (None for float / uniq)."""
    import qopt

    if cfg.method == "binaryconnect":
        return qopt.BinaryConnect()
    if cfg.method == "binaryrelax":
        return qopt.BinaryRelax(**cfg.method_args)
    if cfg.method == "bcgd":
        return qopt.BCGD(**cfg.method_args)
    return None


def activation_config(cfg: TrainConfig) -> dict[str, Any] | None:
    """The ``activations=`` argument of :func:`qopt.quantize_model` (None = float ReLUs)."""
    if cfg.act_bits is None:
        return None
    if cfg.method == "uniq":
        return {"quantizer": "uniq", "bits": cfg.act_bits}
    return {"bits": cfg.act_bits, "forward": cfg.act_forward, "ste": cfg.ste,
            "alpha_grad": cfg.alpha_grad, "learn_alpha": cfg.learn_alpha}


def load_init(model: nn.Module, init_from: str) -> None:
    """Load float weights from a run directory (its ``model.pt``) or a state-dict file."""
    path = Path(init_from)
    if path.is_dir():
        path = path / "model.pt"
    if not path.is_file():
        raise ValueError(f"init_from {init_from!r}: no such file (expected a run directory "
                         "with model.pt, or a state-dict .pt file)")
    sd = read_state_file(path, f"init_from {init_from!r}")
    if isinstance(sd, dict) and "model" in sd and isinstance(sd["model"], dict):
        sd = sd["model"]
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise ValueError(f"init_from {init_from!r} does not hold a state dict (name -> tensor)")
    try:
        model.load_state_dict(sd)
    except RuntimeError as exc:
        raise ValueError(f"init_from {init_from!r} does not match model {type(model).__name__}:"
                         f" {exc}") from exc


def build_model_for(cfg: TrainConfig, bundle: DataBundle) -> nn.Module:
    """Float model of ``cfg`` for ``bundle``, quantized per ``cfg`` (not yet on a device)."""
    import qopt

    model = build_model(cfg.model, bundle.input_shape, max(bundle.num_classes, 1),
                        **cfg.model_args)
    if cfg.init_from:
        load_init(model, cfg.init_from)
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
                            keep_float=cfg.keep_float)
    return model


def build_optimizer(cfg: TrainConfig, model: nn.Module,
                    steps_per_epoch: int | None = None) -> tuple[Any, Any]:
    """(optimizer, per-epoch scheduler). The optimizer is a QuantOptimizer for
    BinaryConnect/BinaryRelax/BCGD (told the run length: schedules advance from its steps),
    else the base optimizer."""
    import qopt

    if cfg.method == "float" and cfg.act_bits is None:
        groups: list[dict[str, Any]] = [{"params": list(model.parameters())}]
    else:
        group_kw: dict[str, Any] = {"weight_decay": cfg.weight_decay}
        if cfg.no_decay_steps:
            group_kw["no_decay"] = ("delta", "alpha")
        groups = [g for g in qopt.param_groups(model, **group_kw) if len(g["params"]) > 0]
    if cfg.optimizer == "sgd":
        base = torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum,
                               nesterov=cfg.nesterov and cfg.momentum > 0,
                               weight_decay=cfg.weight_decay)
    else:
        base = torch.optim.Adam(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    method = make_method(cfg)
    opt = qopt.QuantOptimizer(base, method, epochs=cfg.epochs,
                              steps_per_epoch=steps_per_epoch) if method is not None else base
    sched = build_scheduler(base, cfg.schedule, cfg.epochs, cfg.lr, cfg.milestones, cfg.gamma,
                            cfg.warmup_epochs, cfg.warmup_lr)
    return opt, sched


def is_quant_optimizer(opt: Any) -> bool:
    """True for a QuantOptimizer (has eval_quantized / end_epoch)."""
    return hasattr(opt, "eval_quantized") and hasattr(opt, "end_epoch")
