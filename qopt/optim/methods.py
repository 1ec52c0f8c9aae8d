"""Old import path of the method classes (kept for compatibility): see :mod:`qopt.methods`."""

from qopt.methods.bcgd import BCGD
from qopt.methods.binaryconnect import BinaryConnect
from qopt.methods.binaryrelax import BinaryRelax
from qopt.methods.registry import as_method

__all__ = ["BCGD", "BinaryConnect", "BinaryRelax", "as_method"]
