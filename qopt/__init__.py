"""qopt: the PyTorch engine.

Quantizers, QuantOptimizer, quantized modules, models, data, trainer, study runner and CLI.

Device-agnostic: every tensor op runs on CPU or CUDA. May import :mod:`theory` for the shared
vocabulary (quantization sets), never to compute its own answers.
"""

__version__ = "0.1.0"

from qopt import nn  # noqa: E402, F401  (ENGINE-B: quantized modules)
from qopt.export import export_quantized, load_quantized  # noqa: E402, F401  (ENGINE-A)
from qopt.optim import BCGD, BinaryConnect, BinaryRelax, QuantOptimizer  # noqa: E402, F401
from qopt.projection import TorchProjection, project  # noqa: E402, F401  (ENGINE-A)
from qopt.quantize import param_groups, quantize_model  # noqa: E402, F401  (ENGINE-B)
