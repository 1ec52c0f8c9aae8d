"""qopt: the PyTorch engine.

Quantizers, QuantOptimizer, quantized modules, models, data, trainer, study runner and CLI.

Device-agnostic: every tensor op runs on CPU or CUDA. May import :mod:`theory` for the shared
vocabulary (quantization sets), never to compute its own answers.

Main entry points::

    qopt.project(w, Ternary(), axis=0)            # exact torch projection
    qopt.quantize_model(model, weights=Ternary(), activations={"bits": 4}, keep_float=["last"])
    opt = qopt.QuantOptimizer(torch.optim.SGD(qopt.param_groups(model), lr=0.1),
                              qopt.BinaryRelax())   # or BinaryConnect(), BCGD(rho=1e-5)
    qopt.export_quantized(model, opt)              # integer codes + scales
    qopt.train.train(qopt.TrainConfig(...), "runs/x")  # one run; qopt.run_study for a grid
"""

__version__ = "0.1.0"

from qopt import nn  # noqa: E402
from qopt.export import export_quantized, load_quantized  # noqa: E402
from qopt.optim import BCGD, BinaryConnect, BinaryRelax, QuantOptimizer  # noqa: E402
from qopt.projection import TorchProjection, project  # noqa: E402
from qopt.quantize import param_groups, quantize_model  # noqa: E402
from qopt.study import run_study  # noqa: E402
from qopt.train import TrainConfig  # noqa: E402

__all__ = [
    "BCGD",
    "BinaryConnect",
    "BinaryRelax",
    "QuantOptimizer",
    "TorchProjection",
    "TrainConfig",
    "__version__",
    "export_quantized",
    "load_quantized",
    "nn",
    "param_groups",
    "project",
    "quantize_model",
    "run_study",
]
