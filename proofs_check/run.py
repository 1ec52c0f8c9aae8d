r"""``verify_run``: what a training run's files say about the implementation, the theorems'
hypotheses and convergence — three kinds of statements, kept apart.

=================  =========================================================  ===============
section            statements                                                 exit code
=================  =========================================================  ===============
(a) invariants     the implementation did what the method says: the log      1 on failure
                   is undamaged (only a torn last line is tolerated),
                   records agree, λ/ρ/phase/lr as configured, the forward
                   point is P(w) or the prox, exact orthogonality (dtype
                   tolerance),
                   the final weights are in Q and are the exact projection
                   of the final latent weights (:mod:`run_invariants`)
(b) hypotheses     the hypotheses of the convergence arguments (BCGD's        informational
                   η < ρ/L, BinaryRelax's approximate orthogonality), with    (1 with
                   the fraction of records where they hold and whether the    ``strict``)
                   theorem covers the run at all (:mod:`run_hypotheses`)
(c) diagnostics    did the run settle: code flips (``flip_tol``)              informational
=================  =========================================================  ===============

Inputs: ``config.json``, ``metrics.jsonl`` (``diag``, ``probe``, ``eval``, ``final`` records),
``result.json``, and the tensors of ``model.pt`` / ``quantized.pt`` / ``latent.pt`` read with
``torch.load(weights_only=True)``. Nothing from the engine is imported: the expected values are
recomputed from the config (:mod:`run_schedules`) and from :func:`theory.project`. A float run
has only the record checks; the rest is skipped with the reason.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from proofs_check.report import Report
from proofs_check.run_files import RunFiles, load_run_files
from proofs_check.run_final import check_final
from proofs_check.run_hypotheses import approx_orthogonality, bcgd_step_condition, code_flips
from proofs_check.run_invariants import (
    check_forward_point,
    check_log,
    check_orthogonality,
    check_records,
    check_schedule,
)
from theory.sets import parse_qset

__all__ = ["SECTIONS", "load_run", "verify_run"]

SECTIONS = {
    "invariants": "implementation invariants: a failure is a bug (exit 1)",
    "hypotheses": "theorem hypotheses: informational (exit 0 unless --strict)",
    "diagnostics": "convergence diagnostics: informational (exit 0 unless --strict)",
}


def load_run(run_dir: str | os.PathLike[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(config, diag records) of a run directory (``ValueError`` if it is not one)."""
    files = load_run_files(run_dir)
    return files.config, files.of("diag")


def _check_config(run: RunFiles) -> None:
    """``method`` a non-empty string, ``weights`` null or a valid set spec (else ValueError)."""
    where = repr(str(Path(run.path) / "config.json"))
    method, spec = run.config.get("method"), run.config.get("weights")
    if not isinstance(method, str) or not method:
        raise ValueError(f"{where}: 'method' must be a method name (a non-empty string), got "
                         f"{json.dumps(method)}")
    if spec is not None:
        if not isinstance(spec, str):
            raise ValueError(f"{where}: 'weights' must be a set spec string or null, got "
                             f"{json.dumps(spec)}")
        try:
            parse_qset(spec)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{where}: 'weights': {exc}") from None
    if method != "float" and not run.of("diag") and run.result is None and not run.damaged:
        raise ValueError(f"{str(Path(run.path) / 'metrics.jsonl')!r} has no 'diag' records "
                         "and the run has not finished: nothing to verify (diag_every = 0?)")


def verify_run(run_dir: str | os.PathLike[str], orth_tol: float | None = None,
               flip_tol: float = 0.01, strict: bool = False) -> Report:
    """Check a run directory (module docstring).

    Args:
        run_dir: the run directory.
        orth_tol: a fixed bound on ``orth_rel`` instead of the dtype-derived one.
        flip_tol: bound on the code-flip fraction over the last quarter of the records.
        strict: count violated hypotheses and diagnostics as failures.

    Returns:
        a Report with sections ``invariants``, ``hypotheses``, ``diagnostics``.

    Raises:
        ValueError: not a run directory (missing/unreadable ``config.json`` or
            ``metrics.jsonl``, a mistyped method/weights entry), or bad tolerances.
    """
    for nm, v in (("orth_tol", orth_tol), ("flip_tol", flip_tol)):
        if v is not None and not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
            raise ValueError(f"{nm} must be a finite number >= 0, got {v!r}")
    run = load_run_files(run_dir)
    _check_config(run)
    checks = [check_log(run), check_records(run), check_schedule(run), check_forward_point(run),
              check_orthogonality(run, orth_tol), *check_final(run),
              bcgd_step_condition(run), approx_orthogonality(run), code_flips(run, flip_tol)]
    diags = run.of("diag")
    ctx = {"run": str(run_dir), "method": run.config.get("method"),
           "weights": run.config.get("weights"), "diag records": len(diags),
           "probe records": len(run.of("probe")),
           "finished": run.result is not None}
    if diags:
        ctx["steps"] = f"{diags[0].get('step')}..{diags[-1].get('step')}"
    return Report("verify_run", tuple(checks), ctx, SECTIONS, strict)
