"""``qopt verify``: check a quantizer, the theory's claims, or a training run.

* ``qopt verify quantizer PATH.py:FUNC --set SPEC [--axis 0] [--backend torch] [--timeout S]
  [--json OUT]``: FUNC is imported and called in a child process, each call limited to
  ``--timeout`` seconds (default 10); an exception, ``sys.exit``, crash or hang of FUNC on an
  input is a failed ``contract`` check with that input as counterexample, and the other checks
  still run.
* ``qopt verify theory [--json OUT] [--only NAME ...] [--list]``
* ``qopt verify run RUN_DIR [--json OUT] [--flip-tol F] [--strict]``
* ``qopt verify certificate FILE [--json OUT]`` (a projection certificate, replayed)

Exit codes: 0 every check passed, 1 some check failed (for a quantizer: also when it raises,
exits, crashes or hangs on an input), 2 bad usage (missing file or function, a file that cannot
be imported, unknown set, a run directory without metrics), with the reason on stderr.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

USAGE_ERROR, FAILED, OK = 2, 1, 0
#: defaults of ``--examples`` and ``--flip-tol`` (passed to the checkers as given)
EXAMPLES, FLIP_TOL = 100, 0.01


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from proofs_check.adapter import BACKENDS
    from proofs_check.isolated import DEFAULT_TIMEOUT
    from qopt.commands import described
    from theory.sets import SPEC_FORMS

    json_help = described("also write the report as JSON, atomically", "no JSON")
    sub = parser.add_subparsers(dest="what", metavar="WHAT")
    q = sub.add_parser("quantizer", help="check a quantizer function against the exact projection",
                       description="Check PATH.py:FUNC against theory.project (membership, "
                                   "optimality, idempotence, equivariance, symmetry, "
                                   "orthogonality, prox identities, determinism).")
    q.add_argument("target", metavar="PATH.py:FUNC",
                   help=described("file and function (or Class.method) to check",
                                  required=True))
    q.add_argument("--set", dest="qset", required=True, metavar="SPEC",
                   help=described("quantization set, optionally followed by @SCALE to fix the "
                                  "scale", choices=SPEC_FORMS, required=True))
    q.add_argument("--axis", type=int, default=None,
                   help=described("one scale per slice along this axis of a 2-D input",
                                  "none: 1-D inputs, one scale per tensor"))
    q.add_argument("--backend", choices=BACKENDS, default=BACKENDS[0],
                   help=described("array type handed to FUNC", BACKENDS[0], BACKENDS))
    q.add_argument("--dtype", default=None,
                   help=described("floating dtype handed to FUNC (a numpy or torch dtype name; "
                                  "bfloat16 with torch only)",
                                  "float64 for numpy, float32 for torch"))
    q.add_argument("--examples", type=int, default=EXAMPLES,
                   help=described("hypothesis examples per check", EXAMPLES))
    q.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                   help=described("limit per call of FUNC, run in a child process (importing "
                                  "the file may take max(60, 6 x timeout))",
                                  f"{DEFAULT_TIMEOUT:g}"))
    q.add_argument("--json", metavar="OUT", help=json_help)
    t = sub.add_parser("theory", help="run every claim of theory/ (exit 0 iff all hold)",
                       description="Run every claim of theory/ with its independent check "
                                   "(exit 0 iff all hold); each claim is reported as it "
                                   "finishes.")
    t.add_argument("--json", metavar="OUT", help=json_help)
    t.add_argument("--only", nargs="+", metavar="NAME",
                   help=described("run only these claims (names: see --list)", "all"))
    t.add_argument("--list", action="store_true",
                   help="list the claims (name, source, statement) and exit")
    r = sub.add_parser("run", help="check a training run: implementation invariants (exit 1), "
                                   "theorem hypotheses and convergence (informational)",
                       description="Three sections: (a) implementation invariants - records, "
                                   "schedules as configured, forward point = P(w) or the prox, "
                                   "orthogonality, final weights = exact projection (a failure "
                                   "is a bug: exit 1); (b) theorem hypotheses - BCGD's "
                                   "eta < rho/L, BinaryRelax's approximate orthogonality, with "
                                   "the fraction of records where they hold and whether the "
                                   "theorem covers the run; (c) convergence diagnostics - code "
                                   "flips. (b) and (c) are informational unless --strict.")
    r.add_argument("run_dir", metavar="RUN_DIR",
                   help=described("run directory written by qopt train (config.json, "
                                  "metrics.jsonl)", required=True))
    r.add_argument("--json", metavar="OUT", help=json_help)
    r.add_argument("--orth-tol", type=float, default=None,
                   help=described("fixed bound on orth_rel", "derived from the weights' dtype "
                                  "and ||P(w)||/||w - P(w)||, see proofs_check.run_invariants"))
    r.add_argument("--flip-tol", type=float, default=FLIP_TOL,
                   help=described("bound on the code-flip fraction over the last quarter of "
                                  "the records", FLIP_TOL))
    r.add_argument("--strict", action="store_true",
                   help="count violated hypotheses and diagnostics as failures (default: off)")
    c = sub.add_parser("certificate", help="replay a projection certificate (.npz)",
                       description="Recompute every claim of a certificate written by "
                                   "qopt.projection.certify: summary, bounds, coverage, "
                                   "window and scale against theory.")
    c.add_argument("file", metavar="FILE", help=described("certificate file (.npz)", required=True))
    c.add_argument("--json", metavar="OUT", help=json_help)


def _err(msg: str) -> int:
    print(f"qopt verify: error: {msg}", file=sys.stderr)
    return USAGE_ERROR


def load_function(target: str) -> Any:
    """Load ``PATH.py:FUNC`` in this process (kept for scripts; the CLI runs FUNC in a child
    process). Raises ``ValueError`` (:class:`proofs_check.isolated.QuantizerLoadError`)."""
    from proofs_check.isolated import load_target

    return load_target(target)


def _finish(report: Any, json_path: str | None) -> int:
    from proofs_check.report import write_json_atomic

    print(report.table())
    if json_path:
        write_json_atomic(report.to_dict(), json_path)
    return OK if report.passed else FAILED


def _quantizer(args: argparse.Namespace) -> int:
    from proofs_check import verify_quantizer
    from theory.sets import parse_qset

    try:
        qset = parse_qset(args.qset)
        report = verify_quantizer(args.target, qset, args.axis, args.backend, dtype=args.dtype,
                                  max_examples=args.examples, timeout=args.timeout)
    except (ValueError, TypeError) as exc:  # incl. QuantizerLoadError: cannot load the file
        return _err(str(exc))
    return _finish(report, args.json)


def _theory(args: argparse.Namespace) -> int:
    """Each claim is reported on stderr as it finishes (a bar on a terminal, one line per claim
    otherwise); the table goes to stdout at the end, then --json (atomically)."""
    from proofs_check.claims import all_claims, verify_theory
    from qopt.commands.progress import Progress

    if args.list:
        for c in all_claims().values():
            print(f"{c.name:28s} [{c.source}] {c.statement}")
        return OK

    progress = Progress("verify theory")

    def started(i: int, n: int, name: str) -> None:
        if progress.total != n:
            progress.set_total(n)
        progress.running(name)

    def finished(i: int, n: int, check: Any) -> None:
        fig = "-" if check.figure != check.figure else f"{check.figure:.3g}"
        secs = check.extra.get("seconds", 0.0)
        progress.update(f"{check.status} {check.name}: figure {fig} in {secs:.1f} s", keep=True)
        if check.status == "FAIL" and check.detail:
            progress.write(f"      {check.detail}")

    try:
        report = verify_theory(only=args.only, on_start=started, on_result=finished)
    except ValueError as exc:
        progress.close()
        return _err(str(exc))
    progress.close()
    print(report.table())
    if args.json:
        from qopt.io import atomic_write_json

        atomic_write_json(args.json, report.to_dict())
    return OK if report.passed else FAILED


def _run(args: argparse.Namespace) -> int:
    from proofs_check.run import verify_run

    try:
        report = verify_run(args.run_dir, orth_tol=args.orth_tol, flip_tol=args.flip_tol,
                            strict=args.strict)
    except (ValueError, OSError) as exc:
        return _err(str(exc))
    return _finish(report, args.json)


def _certificate(args: argparse.Namespace) -> int:
    from proofs_check.certificate import verify_certificate

    try:
        report = verify_certificate(args.file)
    except ValueError as exc:
        return _err(str(exc))
    return _finish(report, args.json)


def run(args: argparse.Namespace) -> int:
    handlers = {"quantizer": _quantizer, "theory": _theory, "run": _run,
                "certificate": _certificate}
    if getattr(args, "what", None) not in handlers:
        *first, last = handlers
        return _err(f"say what to verify: {', '.join(first)} or {last} (see qopt verify --help)")
    return handlers[args.what](args)
