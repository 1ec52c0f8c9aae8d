"""``qopt figures [--out DIR] [--only NAME] [--results STUDY_DIR]``: build the paper figures.

Every registered figure (``figures.registry.FIGURES``; ``--list`` prints them) is written as
``DIR/NAME.pdf`` (vector) and ``DIR/NAME.png`` (300 dpi). Theory figures need no training.
Study figures read ``--results`` (default ``studies/quick``) and benchmark figures read
``--bench-results`` (default ``BENCHMARKS.json``, written by ``qopt bench``). A figure whose input
is missing is reported and skipped; the exit code is then non-zero only if that figure was asked
for explicitly with ``--only``.

Each figure is reported on stderr as it is built (a bar on a terminal, one line per figure
otherwise, with the files written and any layout problem found by
:func:`figures.layout.layout_problems`); stdout gets the one-line summary.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from qopt.commands import parse_names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="figures_out",
                        help="output directory (default: figures_out)")
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="build only this figure (repeat or comma-separate; see --list)")
    parser.add_argument("--results", default="studies/quick", metavar="STUDY_DIR",
                        help="study directory for the study figures (default: studies/quick)")
    parser.add_argument("--bench-results", default="BENCHMARKS.json", metavar="JSON",
                        help="benchmark results for the scaling figure (default: "
                             "BENCHMARKS.json)")
    parser.add_argument("--quick", action="store_true",
                        help="fewer Monte Carlo samples and steps (smoke runs)")
    parser.add_argument("--list", action="store_true", help="list the figures and exit")


def run(args: argparse.Namespace) -> int:
    from figures.registry import FIGURES, BuildContext, MissingInput

    if args.list:
        for spec in FIGURES.values():
            print(f"{spec.name:22s} [{spec.kind}] {spec.summary}")
        return 0
    requested = parse_names(args.only, FIGURES, "qopt figures", "figure")
    if requested is None:
        return 2
    names = requested or list(FIGURES)
    ctx = BuildContext(out_dir=Path(args.out), results=Path(args.results),
                       bench_json=Path(args.bench_results), quick=bool(args.quick))
    from qopt.commands.progress import Progress

    built, skipped, failed = 0, 0, 0
    progress = Progress("figures", total=len(names))
    for name in names:
        progress.running(name)
        t0 = time.perf_counter()
        try:
            res = FIGURES[name].build(ctx)
        except MissingInput as exc:
            progress.update(f"skipped {name}: {exc}", keep=True)
            skipped += 1
            continue
        except (FileNotFoundError, ValueError) as exc:
            progress.update(f"failed {name}: {exc}", keep=True)
            failed += 1
            continue
        built += 1
        progress.update(f"{name}: {time.perf_counter() - t0:.1f} s -> {res.pdf}, {res.png.name}",
                        keep=True)
        for problem in res.layout_problems:
            progress.write(f"  warning: {name} layout: {problem}")
    progress.close()
    summary = f"{built} figure(s) written to {ctx.out_dir} in {progress.elapsed():.1f} s"
    summary += f"; {skipped} skipped (input missing)" if skipped else ""
    summary += f"; {failed} failed" if failed else ""
    print(summary)
    return 1 if failed or (skipped and requested) else 0
