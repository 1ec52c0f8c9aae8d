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

from qopt.commands import add_names_option, described, parse_names

#: default output directory of the figures
OUT_DIR = "figures_out"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from figures.registry import DEFAULT_BENCH_JSON, DEFAULT_RESULTS, FIGURES

    parser.add_argument("--out", default=OUT_DIR,
                        help=described("output directory (NAME.pdf and NAME.png per figure)",
                                       OUT_DIR))
    add_names_option(parser, "--only", known=FIGURES, metavar="NAME",
                     text="build only these figures (repeat or comma-separate)")
    parser.add_argument("--results", default=str(DEFAULT_RESULTS), metavar="STUDY_DIR",
                        help=described("study directory read by the study figures",
                                       DEFAULT_RESULTS))
    parser.add_argument("--bench-results", default=str(DEFAULT_BENCH_JSON), metavar="JSON",
                        help=described("benchmark results (written by qopt bench) read by the "
                                       "benchmark figures", DEFAULT_BENCH_JSON))
    parser.add_argument("--quick", action="store_true",
                        help="fewer Monte Carlo samples and steps: smoke runs (default: off)")
    parser.add_argument("--list", action="store_true",
                        help="list the figures (name, kind, what it shows) and exit")


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
