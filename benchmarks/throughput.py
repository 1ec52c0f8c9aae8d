"""Training throughput (samples/s): float vs quantized training, MLP and ResNet-20 at CIFAR size.

One training step = ``zero_grad`` + forward + cross-entropy + backward + ``optimizer.step()`` on
a fixed synthetic batch of CIFAR-shaped inputs (3×32×32, 10 classes; data loading is excluded on
purpose: this measures what quantization adds to the step). Models and optimizers are built by
the trainer's own wiring (``qopt.train.setup.build_model_for`` / ``build_optimizer``), so the
numbers are those of ``qopt train`` with the same flags: SGD momentum 0.9, lr 0.1, the last layer
kept float. Variants:

====================  =========================================================================
``float``             plain SGD
``binaryconnect``     binary weights, QuantOptimizer(BinaryConnect)
``binaryrelax``       binary weights, QuantOptimizer(BinaryRelax)
``binaryrelax/SET``   ternary / uniform:4 weights (the three sets of issue 14: target >= 0.97)
``bcgd``              binary weights, QuantOptimizer(BCGD)
``bcgd+act4``         binary weights + 4-bit quantized ReLUs (BCGD's released setup)
``uniq2``             UniQ 2-bit weights (quantized in the forward pass, learnable step)
====================  =========================================================================

Timing: :func:`benchmarks.timing.time_call` (warm-up, CUDA-synchronised, median). The column
``rel_float`` is float's step time / the variant's (1.0 = no slowdown), within one run.
A variant whose engine piece is missing in this build is reported with its error, not skipped.
"""

from __future__ import annotations

import types
from typing import Any

from benchmarks.timing import device_sync, time_interleaved

__all__ = ["VARIANTS", "run"]

#: name -> TrainConfig overrides
VARIANTS: dict[str, dict[str, Any]] = {
    "float": {"method": "float"},
    "binaryconnect": {"method": "binaryconnect", "weights": "binary"},
    "binaryrelax": {"method": "binaryrelax", "weights": "binary"},
    "bcgd": {"method": "bcgd", "weights": "binary"},
    "bcgd+act4": {"method": "bcgd", "weights": "binary", "act_bits": 4},
    "binaryrelax/ternary": {"method": "binaryrelax", "weights": "ternary"},
    "binaryrelax/uniform:4": {"method": "binaryrelax", "weights": "uniform:4"},
    "uniq2": {"method": "uniq", "weights": "uniq:2"},
}

#: model name -> TrainConfig model fields
MODELS: dict[str, dict[str, Any]] = {
    "mlp": {"model": "mlp", "model_args": {"hidden": (512, 512)}},
    "resnet20": {"model": "resnet20", "model_args": {}},
}

_SHAPE = (3, 32, 32)
_CLASSES = 10


def _make_step(model_name: str, variant: str, batch: int, device: Any,
               shape: tuple[int, ...] = _SHAPE, model_args: dict | None = None) -> Any:
    import torch

    from qopt.train.config import TrainConfig
    from qopt.train.setup import build_model_for, build_optimizer

    mcfg = dict(MODELS[model_name])
    if model_args is not None:
        mcfg["model_args"] = model_args
    cfg = TrainConfig(dataset="cifar10", **mcfg, **VARIANTS[variant],
                      lr=0.1, momentum=0.9, batch_size=batch, epochs=1, schedule="constant")
    bundle = types.SimpleNamespace(input_shape=shape, num_classes=_CLASSES)
    torch.manual_seed(0)
    model = build_model_for(cfg, bundle).to(device)  # type: ignore[arg-type]
    opt, _ = build_optimizer(cfg, model)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(batch, *shape, generator=gen).to(device)
    y = torch.randint(0, _CLASSES, (batch,), generator=gen).to(device)
    lossf = torch.nn.CrossEntropyLoss()
    model.train()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss = lossf(model(x), y)
        loss.backward()
        opt.step()

    return step


def run(quick: bool = False, device: str | None = None) -> list[dict[str, Any]]:
    """Measure every model × variant; one row each (see the module docstring).

    The variants of one model are timed round-robin (:func:`benchmarks.timing.time_interleaved`)
    so their ratios survive load from other processes. ``quick``: a smoke test, not a
    measurement — batch 2 of 3×8×8 inputs, a 32-unit MLP and a float/bcgd pair of ResNet-20,
    one repeat.
    """
    import torch

    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    sync = device_sync(dev)
    batch = 2 if quick else 128
    shape = (3, 8, 8) if quick else _SHAPE
    plan = {m: list(VARIANTS) for m in MODELS}
    if quick:
        plan["resnet20"] = ["float", "bcgd"]
    rows: list[dict[str, Any]] = []
    for model_name, variants in plan.items():
        steps, errors = {}, {}
        for variant in variants:
            try:
                steps[variant] = _make_step(
                    model_name, variant, batch, dev, shape,
                    {"hidden": (32,)} if quick and model_name == "mlp" else None)
            except (ImportError, AttributeError, NotImplementedError, ValueError,
                    TypeError) as exc:
                errors[variant] = f"{type(exc).__name__}: {exc}"
        timings = time_interleaved(
            steps, sync=sync, warmup=1 if quick else 2,
            repeats=1 if quick else (5 if model_name == "resnet20" else 9),
            min_sample_s=0.0 if quick else 0.05) if steps else {}
        ref = timings.get("float")
        for variant in variants:
            row: dict[str, Any] = {"model": model_name, "variant": variant, "batch": batch,
                                   "input": "x".join(map(str, shape)), "device": str(dev)}
            t = timings.get(variant)
            if t is None:
                row.update(step_ms=None, iqr_ms=None, samples_per_s=None, rel_float=None,
                           error=errors[variant])
            else:
                row.update(step_ms=1e3 * t.median_s, iqr_ms=1e3 * (t.q75_s - t.q25_s),
                           samples_per_s=batch / t.median_s,
                           rel_float=(ref.median_s / t.median_s) if ref else None, error=None)
            rows.append(row)
    return rows
