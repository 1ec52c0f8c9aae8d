"""proofs_check: verify any quantizer, any training run, and every claim of :mod:`theory`.

Public API:
    verify_quantizer(fn, qset, axis=None, backend="numpy")  -> Report   (quantizer.py)
    verify_theory(only=None)  -> Report: every claim of theory/        (claims.py, claims_*.py)
    verify_run(run_dir)  -> Report: convergence hypotheses along a run (run.py)
    assert_projection / assert_in_set / assert_optimal                  (assertions.py)
    proofs_check.strategies: hypothesis strategies (weights, weight_matrices, quant_sets, ...)
    Report, Check, QuantizerError                                       (report.py, adapter.py)
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> module (imported on first use, so that a child process of
#: :mod:`proofs_check.isolated` starts without loading hypothesis, scipy or theory's claims)
_EXPORTS = {
    "Check": "proofs_check.report",
    "QuantizerError": "proofs_check.adapter",
    "Report": "proofs_check.report",
    "assert_in_set": "proofs_check.assertions",
    "assert_optimal": "proofs_check.assertions",
    "assert_projection": "proofs_check.assertions",
    "verify_quantizer": "proofs_check.quantizer",
    "verify_run": "proofs_check.run",
    "verify_theory": "proofs_check.claims",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'proofs_check' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
