"""proofs_check: verify any quantizer, any training run, and every claim of :mod:`theory`.

Public API:
    verify_quantizer(fn, qset, axis=None, backend="numpy")  -> Report   (quantizer.py)
    verify_theory(only=None)  -> Report: every claim of theory/        (claims.py, claims_*.py)
    verify_run(run_dir)  -> Report: convergence hypotheses along a run (run.py)
    assert_projection / assert_in_set / assert_optimal                  (assertions.py)
    proofs_check.strategies: hypothesis strategies (weights, weight_matrices, quant_sets, ...)
    Report, Check, QuantizerError                                       (report.py, adapter.py)
"""

from proofs_check.adapter import QuantizerError
from proofs_check.assertions import assert_in_set, assert_optimal, assert_projection
from proofs_check.claims import verify_theory
from proofs_check.quantizer import verify_quantizer
from proofs_check.report import Check, Report
from proofs_check.run import verify_run

__all__ = [
    "Check",
    "QuantizerError",
    "Report",
    "assert_in_set",
    "assert_optimal",
    "assert_projection",
    "verify_quantizer",
    "verify_run",
    "verify_theory",
]
