"""qopt: the PyTorch engine.

Sets in use, the exact projection, training methods, ``QuantOptimizer``, quantized modules,
models, data and export. The application (trainer, studies, reproduction, CLI) sits above it
in its own subpackages and is imported by name (``from qopt.train import TrainConfig``,
``from qopt.study import run_study``): the engine, this namespace included, never refers to it
(tests/test_layering.py). ``import qopt`` imports nothing heavy: each public name is resolved on
first use (PEP 562), so ``import qopt.methods.registry`` works without torch.

Device-agnostic: every tensor op runs on CPU or CUDA. May import :mod:`theory` for the shared
vocabulary (quantization sets, validation), never to compute its own answers.

Main entry points::

    qopt.project(w, Ternary(), axis=0)            # exact torch projection
    qopt.quantize_model(model, weights=Ternary(), activations={"bits": 4}, keep_float=["last"])
    opt = qopt.QuantOptimizer(torch.optim.SGD(qopt.param_groups(model), lr=0.1),
                              qopt.BinaryRelax(), epochs=E, steps_per_epoch=S)
                              # or BinaryConnect(), BCGD(rho=1e-5), PARQ(), ProxQuant()
    qopt.export_quantized(model, opt)              # integer codes + scales
"""

from __future__ import annotations

import importlib
from typing import Any

from qopt._imports import install_shadow_guard

__version__ = "0.1.0"

install_shadow_guard()  # our theory/figures/... never silently replaced by a user's file

#: public name -> module that defines it (imported on first access); the method classes
#: (qopt.BinaryConnect, qopt.BinaryRelax, qopt.BCGD, qopt.PARQ, qopt.ProxQuant, ...) come from
#: the registry, qopt.methods.registry.METHODS
_LAZY: dict[str, str] = {
    "NonFiniteError": "qopt.optim._nonfinite",
    "QuantOptimizer": "qopt.optim.quant_optimizer",
    "ScheduleOverflowError": "qopt.optim._checks",
    "TorchProjection": "qopt.projection",
    "project": "qopt.projection",
    "export_quantized": "qopt.export",
    "load_quantized": "qopt.export",
    "param_groups": "qopt.quantize",
    "quantize_model": "qopt.quantize",
}

_METHOD_CLASSES = ("BCGD", "BinaryConnect", "BinaryRelax", "PARQ", "ProxQuant")
__all__ = sorted([*_LAZY, *_METHOD_CLASSES, "__version__", "nn", "methods"])


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    from qopt.methods.registry import METHODS

    by_class = {cls.__name__: cls for cls in METHODS.values()}
    if name in by_class:
        globals()[name] = by_class[name]
        return by_class[name]
    if name in ("nn", "methods", "optim", "projection", "export", "quantize", "models", "data"):
        return importlib.import_module(f"qopt.{name}")
    raise AttributeError(f"module 'qopt' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
