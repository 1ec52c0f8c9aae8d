"""theory: exact float64 reference math of quantized training (numpy, scipy, sympy; never torch).

Modules:
    sets        quantization sets (Binary, Ternary, Uniform, Symmetric, Grid) and ``parse_qset``
    projection  ``project``: the exact Euclidean projection, per tensor or per slice
    envelope    ``dist2``, ``moreau_envelope``, ``prox`` (BinaryRelax), ``envelope_grad``
"""

from theory.envelope import dist2, envelope_grad, moreau_envelope, prox
from theory.projection import Projection, nearest_codes, project
from theory.sets import MAX_BITS, Binary, Grid, QuantSet, Symmetric, Ternary, Uniform, parse_qset

__all__ = [
    "MAX_BITS",
    "Binary",
    "Grid",
    "Projection",
    "QuantSet",
    "Symmetric",
    "Ternary",
    "Uniform",
    "dist2",
    "envelope_grad",
    "moreau_envelope",
    "nearest_codes",
    "parse_qset",
    "project",
    "prox",
]
