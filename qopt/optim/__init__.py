"""Projection-based quantized training: the QuantOptimizer shell, its diagnostics and guards.

The methods live in :mod:`qopt.methods` (re-exported here for the old import path)."""

from qopt.methods import BCGD, PARQ, BinaryConnect, BinaryRelax, ProxQuant
from qopt.optim._nonfinite import NonFiniteError
from qopt.optim.quant_optimizer import QuantOptimizer

__all__ = ["BCGD", "PARQ", "BinaryConnect", "BinaryRelax", "NonFiniteError", "ProxQuant",
           "QuantOptimizer"]
