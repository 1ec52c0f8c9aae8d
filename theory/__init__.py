"""theory: exact float64 reference math of quantized training (numpy, scipy, sympy; never torch).

Modules:
    sets        quantization sets (Binary, Ternary, Uniform, Symmetric, Grid, Int, NF4, Affine) and
                ``parse_qset``
    projection  ``project``: the exact Euclidean projection, per tensor, slice or block
    groups      group-wise granularity: blocks of ``group_size`` weights per row, the tail rule
    affine      the exact projection onto affine sets with an integer zero point
    sweep       the optimal free scale: the breakpoint sweep (``best_scale``), plain reference
    coding      nearest-level codes and the tie rule (``nearest_codes``, ``code_dtype``)
    approximate the literature's / released code's approximate quantizers, measured ratios
    envelope    ``dist2``, ``moreau_envelope``, ``prox`` (BinaryRelax), ``envelope_grad``
    twolayer    ``TwoLayerTeacher``: the ICLR'19 STE two-linear-layer Gaussian model in closed form
    clipped_relu  closed forms of the clipped-ReLU integrals p, q (derived here)
    proxies     STE proxies (identity/relu/clipped_relu), BCGD quantized ReLU, UniQ quantizers
    gaussian_steps  MSE-optimal Gaussian step sizes (UniQ c_w, c_a; BCGD ceil) + released tables
    symbolic    sympy derivations of Lemmas 1, 2, 5, 8 (imported on demand: ``theory.symbolic``)
"""

from theory.envelope import dist2, envelope_grad, moreau_envelope, prox
from theory.projection import Projection, code_dtype, nearest_codes, project
from theory.sets import (
    MAX_BITS,
    NF4,
    Affine,
    Binary,
    Grid,
    Int,
    QuantSet,
    Symmetric,
    Ternary,
    Uniform,
    parse_qset,
)

#: names whose modules need scipy, imported on first access (PEP 562): ``import theory`` (and
#: every ``theory.<module>`` import, e.g. the validation rules qopt's configs use) loads numpy only
_LAZY = {"TwoLayerTeacher": "theory.twolayer", "clipped_pq": "theory.twolayer"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'theory' has no attribute {name!r}")


__all__ = [
    "MAX_BITS",
    "NF4",
    "Affine",
    "Int",
    "Binary",
    "Grid",
    "Projection",
    "QuantSet",
    "Symmetric",
    "Ternary",
    "TwoLayerTeacher",
    "Uniform",
    "clipped_pq",
    "dist2",
    "envelope_grad",
    "moreau_envelope",
    "code_dtype",
    "nearest_codes",
    "parse_qset",
    "project",
    "prox",
]
