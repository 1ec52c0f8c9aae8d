"""Projection-based quantized training: the QuantOptimizer shell, its diagnostics and guards.

The methods live in :mod:`qopt.methods` (the original three re-exported here: the old path)."""

from qopt.methods.bcgd import BCGD
from qopt.methods.binaryconnect import BinaryConnect
from qopt.methods.binaryrelax import BinaryRelax
from qopt.optim._checks import ScheduleOverflowError
from qopt.optim._nonfinite import NonFiniteError
from qopt.optim.quant_optimizer import QuantOptimizer

__all__ = ["BCGD", "BinaryConnect", "BinaryRelax", "NonFiniteError", "QuantOptimizer",
           "ScheduleOverflowError"]
