"""``qopt reproduce [CLAIM ...] [--quick] [--seeds N] [--out DIR]``: run the papers' claims.

Runs each claim's protocol on the offline data (no download), resumably: rerunning the same
command reuses every finished claim and every finished training run. Writes ``DIR/REPORT.md``
(statement, protocol, deviations, numbers with 95% intervals, computed verdict per claim),
``DIR/report.json`` and ``DIR/figures/``. ``--quick`` is a smoke run (a few minutes on 2 CPU
cores; its verdicts are marked as such). Default DIR: ``reproduction`` (``reproduction/quick``
with ``--quick``, so a smoke run never overwrites the report of record).

Exit codes: 0 every selected claim was computed (whatever its verdict), 1 some claim raised
(see the report), 2 bad usage.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from qopt.commands import add_names_option, described, parse_names
from qopt.reproduce.registry import CLAIM_NAMES

#: default output directory (``OUT/quick`` with ``--quick``)
OUT = "reproduction"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    import dataclasses
    import inspect

    from qopt.reproduce.claim import Context

    defaults = {f.name: f.default for f in dataclasses.fields(Context)}
    seeds = inspect.signature(Context.n_seeds).parameters
    add_names_option(parser, "claims", known=CLAIM_NAMES, nargs="*", metavar="CLAIM",
                     text="claims to run, in report order")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: reduced protocols, verdicts marked as smoke (default: "
                             "off)")
    parser.add_argument("--seeds", type=int, default=defaults["seeds"],
                        help=described("seeds per training arm", f"each claim's own: "
                                       f"{seeds['full'].default}, with --quick "
                                       f"{seeds['quick'].default}, unless the claim needs "
                                       "fewer"))
    parser.add_argument("--out", help=described("output directory", f"{OUT}, with --quick "
                                                f"{OUT}/quick"))
    parser.add_argument("--workers", type=int, default=defaults["workers"],
                        help=described("parallel training processes", defaults["workers"]))
    parser.add_argument("--threads", type=int, default=defaults["threads"],
                        help=described("torch threads per process", defaults["threads"]))
    parser.add_argument("--data-dir", default=defaults["data_dir"],
                        help=described("CIFAR-10 directory (cifar-10-batches-py) for the 'cifar' "
                                       "claim", "none: that claim is not run"))
    parser.add_argument("--list", action="store_true",
                        help="list the claims (name, kind, title) and exit")


def run(args: argparse.Namespace) -> int:
    from qopt.reproduce import Context, reproduce
    from qopt.reproduce.registry import claims

    if args.list:
        for name, spec in claims().items():
            print(f"{name:16s} [{spec.kind}] {spec.title}")
        return 0
    names = parse_names(args.claims, CLAIM_NAMES, "qopt reproduce", "claim")
    if names is None:
        return 2
    out = Path(args.out or (f"{OUT}/quick" if args.quick else OUT))
    try:
        if args.data_dir is not None and not Path(args.data_dir).is_dir():
            raise ValueError(f"--data-dir {args.data_dir!r} is not a directory")
        ctx = Context(out, quick=args.quick, seeds=args.seeds, workers=args.workers,
                      threads=args.threads, data_dir=args.data_dir)
    except (ValueError, TypeError) as exc:
        print(f"qopt reproduce: error: {exc}", file=sys.stderr)
        return 2
    blocked = missing_requirements(names, ctx)
    if blocked:
        print(f"qopt reproduce: error: {blocked}", file=sys.stderr)
        return 2
    command = "qopt reproduce " + " ".join(shlex.quote(a) for a in sys.argv[2:]) \
        if len(sys.argv) > 1 and sys.argv[1] == "reproduce" else "qopt reproduce"
    outcomes = reproduce(names, ctx, command.strip())
    print()
    for o in outcomes:
        v = o.result.verdict.label if o.result else "not computed (error)"
        print(f"{o.spec.name:16s} {v}")
    print(f"\nreport: {out / 'REPORT.md'} (+ report.json, figures/)")
    failed = [o.spec.name for o in outcomes if o.error]
    if failed:
        print(f"claim(s) failed: {', '.join(failed)} (tracebacks in report.json)",
              file=sys.stderr)
        return 1
    return 0


def missing_requirements(names: list[str], ctx: Any) -> str | None:
    """One line naming the selected claims whose data needs a package that is not installed,
    and the install command (None when nothing is missing): found from the claims' protocols
    (a claim's data sets are the ``dataset`` values in it) before any claim runs."""
    from qopt.extras import DATASET_NEEDS, PACKAGES, datasets_in, missing
    from qopt.reproduce.registry import select

    chosen = select(names)
    need: dict[str, set[str]] = {}  # package -> claims
    for spec in chosen:
        for ds in sorted(datasets_in(spec.protocol(ctx))):
            for pkg in missing(DATASET_NEEDS.get(ds, ())):
                need.setdefault(pkg, set()).add(f"{spec.name} (dataset {ds!r})")
    if not need:
        return None
    what = "; ".join(f"{', '.join(sorted(users))} need {pkg}" for pkg, users in need.items())
    cmds = " && ".join(dict.fromkeys(PACKAGES[p][1] for p in need))
    blocked = {u.split(" ")[0] for users in need.values() for u in users}
    rest = [c.name for c in chosen if c.name not in blocked]
    alt = f" (or run the others alone: qopt reproduce {' '.join(rest)})" if rest else ""
    return f"claims {what}, which is not installed; install it with: {cmds}{alt}"
