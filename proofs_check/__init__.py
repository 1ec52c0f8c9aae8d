"""proofs_check: verify any quantizer, any training run, and every claim of :mod:`theory`.

Public API:
    verify_quantizer(fn, qset, axis=None, backend="numpy")  -> Report   (quantizer.py)
    assert_projection / assert_in_set / assert_optimal                  (assertions.py)
    proofs_check.strategies: hypothesis strategies (weights, weight_matrices, quant_sets, ...)
    Report, Check, QuantizerError                                       (report.py, adapter.py)
"""

from proofs_check.adapter import QuantizerError
from proofs_check.assertions import assert_in_set, assert_optimal, assert_projection
from proofs_check.quantizer import verify_quantizer
from proofs_check.report import Check, Report

__all__ = [
    "Check",
    "QuantizerError",
    "Report",
    "assert_in_set",
    "assert_optimal",
    "assert_projection",
    "verify_quantizer",
]
