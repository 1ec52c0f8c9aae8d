"""Projection-based quantized training: methods, the QuantOptimizer wrapper, diagnostics."""

from qopt.optim.methods import BCGD, BinaryConnect, BinaryRelax
from qopt.optim.quant_optimizer import QuantOptimizer

__all__ = ["BCGD", "BinaryConnect", "BinaryRelax", "QuantOptimizer"]
