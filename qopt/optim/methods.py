"""Old import path of the method classes (kept for compatibility): see :mod:`qopt.methods`."""

from qopt.methods import BCGD, BinaryConnect, BinaryRelax, as_method

__all__ = ["BCGD", "BinaryConnect", "BinaryRelax", "as_method"]
