r"""``verify_run``: did the hypotheses of the convergence arguments hold along a training run?

Reads ``RUN_DIR/config.json`` and the ``diag`` records of ``RUN_DIR/metrics.jsonl`` (format in
API.md: keys ``NAME/<metric>`` per quantized tensor, plus ``lam``, ``rho``, ``phase``, ``lr``;
non-finite values are logged as null) and checks, per record and per layer:

====================  ===========================================================  ============
hypothesis            condition (default bound)                                    applies to
====================  ===========================================================  ============
orthogonality         ``orth_rel`` = |<r, p>| / (‖r‖‖p‖) <= ``orth_tol`` (1e-4):     free-scale
                      the logged P is the exact projection onto the cone (§A1)     weight sets
approx_orthogonality  ``approx_orth_ratio`` < 1: the cross term of the BinaryRelax  binaryrelax,
                      descent bound is dominated by ‖Δp‖² (papers.md §B, RECON)    phase 1
bcgd_step_condition   η < ρ / L with η = ``lr``, L = ``lipschitz_est`` of the      bcgd
                      layer: BCGD's sufficient descent (papers.md §C1)
code_flips            ``flip_frac`` <= ``flip_tol`` (0.01) over the last quarter   every
                      of the records: the codes settle (the arguments assume the   quantized
                      quantized point eventually stops moving)                     run
====================  ===========================================================  ============

Each failed hypothesis names the first failing (step, layer, value) triples and their count.
Null values (NaN: first record, p did not move, L not estimable) are not evaluated and counted
in the detail. Sources as in the table; the bounds are parameters.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from proofs_check.report import Check, Report
from theory.sets import parse_qset

__all__ = ["load_run", "verify_run"]

GLOBAL_KEYS = {"type", "step", "epoch", "lam", "rho", "phase", "lr", "opt_step"}
SHOW = 5  # failing (step, layer) pairs named in a report line


def load_run(run_dir: str | os.PathLike[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(config, diag records) of a run directory.

    Raises:
        ValueError: the directory, ``config.json`` or ``metrics.jsonl`` is missing or unreadable,
            ``config.json`` has no method name (string) or an invalid ``weights`` spec, or there
            is no ``diag`` record.
    """
    d = Path(run_dir)
    if not d.is_dir():
        raise ValueError(f"run directory {str(d)!r} does not exist")
    try:
        config = json.loads((d / "config.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{str(d)!r} has no config.json (not a run directory)") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{str(d / 'config.json')!r} is not valid JSON: {exc}") from None
    if not isinstance(config, dict):
        raise ValueError(f"{str(d / 'config.json')!r} must hold a JSON object, got "
                         f"{type(config).__name__}")
    method, spec = config.get("method"), config.get("weights")
    if not isinstance(method, str) or not method:
        raise ValueError(f"{str(d / 'config.json')!r}: 'method' must be a method name (a "
                         f"non-empty string), got {method!r}")
    if spec is not None:
        if not isinstance(spec, str):
            raise ValueError(f"{str(d / 'config.json')!r}: 'weights' must be a set spec string "
                             f"or null, got {spec!r}")
        try:
            parse_qset(spec)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{str(d / 'config.json')!r}: 'weights': {exc}") from None
    if not (d / "metrics.jsonl").is_file():
        raise ValueError(f"{str(d)!r} has no metrics.jsonl")
    diags = []
    with open(d / "metrics.jsonl", encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:  # a torn last line of a killed run is tolerated
                continue
            if isinstance(rec, dict) and rec.get("type") == "diag":
                diags.append(rec)
    if not diags:
        raise ValueError(f"{str(d / 'metrics.jsonl')!r} has no 'diag' records (a float run, or "
                         "diag_every = 0)")
    return config, diags


def _per_layer(rec: dict[str, Any], metric: str) -> dict[str, float | None]:
    out = {}
    for k, v in rec.items():
        if k in GLOBAL_KEYS or "/" not in k:
            continue
        layer, _, m = k.rpartition("/")
        if m == metric:
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                raise ValueError(f"metrics.jsonl: {k} = {v!r} at step {rec.get('step')!r} is not "
                                 "a number (a damaged or foreign log)")
            out[layer] = None if v is None else float(v)
    return out


def _scan(records: list[dict[str, Any]], metric: str,
          bad: Callable[[dict[str, Any], str, float], tuple[bool, float]], name: str,
          measure: str, worst_is_max: bool = True) -> Check:
    """Evaluate ``bad(record, layer, value) -> (failed, figure)`` on every non-null value."""
    fails, n_eval, n_null = [], 0, 0
    worst = -math.inf if worst_is_max else math.inf
    for rec in records:
        for layer, v in _per_layer(rec, metric).items():
            if v is None or not math.isfinite(v):
                n_null += 1
                continue
            failed, fig = bad(rec, layer, v)
            if fig is None or not math.isfinite(fig):
                n_null += 1
                continue
            n_eval += 1
            worst = max(worst, fig) if worst_is_max else min(worst, fig)
            if failed:
                fails.append((rec.get("step"), layer, fig))
    if n_eval == 0:
        return Check(name, "skip", math.nan, measure,
                     f"no finite '{metric}' value logged ({n_null} null)")
    detail = f"{n_eval} values over {len(records)} records ({n_null} null)"
    if not fails:
        return Check(name, "pass", worst, measure, detail)
    shown = ", ".join(f"step {s} {layer} ({f:.3g})" for s, layer, f in fails[:SHOW])
    more = f" and {len(fails) - SHOW} more" if len(fails) > SHOW else ""
    steps = sorted({s for s, _, _ in fails if s is not None})
    layers = sorted({layer for _, layer, _ in fails})
    return Check(name, "FAIL", worst, measure,
                 f"failed at {len(fails)} of {n_eval} values: {shown}{more}; {detail}",
                 None, {"failed_steps": steps, "failed_layers": layers})


def verify_run(run_dir: str | os.PathLike[str], orth_tol: float = 1e-4, flip_tol: float = 0.01
               ) -> Report:
    """Check the run's logged diagnostics against the hypotheses in the module docstring.

    Returns:
        a Report with checks ``orthogonality``, ``approx_orthogonality``,
        ``bcgd_step_condition``, ``code_flips`` (``skip`` with the reason where not applicable).

    Raises:
        ValueError: see :func:`load_run`; ``orth_tol`` / ``flip_tol`` not finite and >= 0.
    """
    for nm, v in (("orth_tol", orth_tol), ("flip_tol", flip_tol)):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
            raise ValueError(f"{nm} must be a finite number >= 0, got {v!r}")
    config, recs = load_run(run_dir)
    method, spec = config["method"], config.get("weights")
    qset = parse_qset(spec) if spec else None  # validated by load_run
    checks = []

    m_orth = f"max orth_rel = |<w-P(w), P(w)>| / (||w-P(w)|| ||P(w)||); holds <= {orth_tol:g}"
    if qset is not None and not qset.is_cone:
        checks.append(Check("orthogonality", "skip", math.nan, m_orth,
                            f"fixed-scale set {spec}: not a cone, <r, p> = 0 is not implied"))
    else:
        checks.append(_scan(recs, "orth_rel", lambda r, ly, v: (v > orth_tol, v),
                            "orthogonality", m_orth))

    m_ao = "max approx_orth_ratio |<r+,p> + <r,p+>| / ||p+ - p||^2; holds < 1"
    if method != "binaryrelax":
        checks.append(Check("approx_orthogonality", "skip", math.nan, m_ao,
                            f"a BinaryRelax hypothesis; this run's method is {method!r}"))
    else:
        phase1 = [r for r in recs if r.get("phase") in (None, 1, 1.0)]
        checks.append(_scan(phase1, "approx_orth_ratio", lambda r, ly, v: (v >= 1.0, v),
                            "approx_orthogonality", m_ao + " (phase-1 records)"))

    m_bc = "max eta * L / rho (eta = lr, L = lipschitz_est of the layer); holds < 1"
    if method != "bcgd":
        checks.append(Check("bcgd_step_condition", "skip", math.nan, m_bc,
                            f"a BCGD hypothesis; this run's method is {method!r}"))
    else:
        def step_ok(r: dict[str, Any], layer: str, L: float) -> tuple[bool, float]:
            lr, rho = r.get("lr"), r.get("rho")
            if lr is None or rho is None or rho <= 0:
                return False, math.nan
            ratio = float(lr) * L / float(rho)
            return ratio >= 1.0, ratio

        checks.append(_scan(recs, "lipschitz_est", step_ok, "bcgd_step_condition", m_bc))

    m_fl = f"max flip_frac over the last quarter of the records; holds <= {flip_tol:g}"
    tail = recs[len(recs) - max(1, len(recs) // 4):]
    c = _scan(tail, "flip_frac", lambda r, ly, v: (v > flip_tol, v), "code_flips", m_fl)
    checks.append(c)
    ctx = {"run": str(run_dir), "method": method, "weights": spec, "diag records": len(recs),
           "steps": f"{recs[0].get('step')}..{recs[-1].get('step')}"}
    return Report("verify_run", tuple(checks), ctx)
