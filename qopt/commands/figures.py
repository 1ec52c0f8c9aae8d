"""``qopt figures [--out DIR] [--only NAME] [--results STUDY_DIR] [--run RUN_DIR]``: build the
paper figures, or one run's curves.

Every registered figure (``figures.registry.FIGURES``; ``--list`` prints them) is written as
``DIR/NAME.pdf`` (vector) and ``DIR/NAME.png`` (300 dpi). Theory figures need no training.
Study figures read ``--results`` (default ``studies/quick``) and benchmark figures read
``--bench-results`` (default ``BENCHMARKS.json``, written by ``qopt bench``). A figure whose input
is missing is reported and skipped; the exit code is then non-zero only if that figure was asked
for explicitly with ``--only``. A ``--results`` given explicitly must be a study directory: one
that does not exist, or a run directory, is a user error (one line, exit 2, nothing built).

``--run RUN_DIR`` (also ``qopt plot RUN_DIR``) draws one training run's curves instead
(:func:`figures.plot_run.plot_run`: loss, accuracies, learning rate, the method's scalars λ / ρ
/ ..., dist², code flips) as ``DIR/run_<id>.pdf`` / ``.png``.

Each figure is reported on stderr as it is built (a bar on a terminal, one line per figure
otherwise, with the files written and any layout problem found by
:func:`figures.layout.layout_problems`); stdout gets the one-line summary.
"""

from __future__ import annotations

import argparse
import sys
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
    parser.add_argument("--run", action="append", metavar="RUN_DIR",
                        help=described("plot one training run's curves instead of the paper "
                                       "figures (repeatable)", "none"))
    parser.add_argument("--bench-results", default=str(DEFAULT_BENCH_JSON), metavar="JSON",
                        help=described("benchmark results (written by qopt bench) read by the "
                                       "benchmark figures", DEFAULT_BENCH_JSON))
    parser.add_argument("--quick", action="store_true",
                        help="fewer Monte Carlo samples and steps: smoke runs (default: off)")
    parser.add_argument("--list", action="store_true",
                        help="list the figures (name, kind, what it shows) and exit")


def results_problem(path: Path) -> str | None:
    """Why ``path`` (given as ``--results``) is not a study directory, or None."""
    if not path.exists():
        return f"--results {str(path)!r} does not exist (a study directory: run `qopt study`)"
    if not path.is_dir():
        return f"--results {str(path)!r} is a file, not a study directory"
    if not (path / "runs").is_dir() and not (path / "curves.json").is_file() and (
            (path / "metrics.jsonl").is_file() or (path / "config.json").is_file()):
        return (f"--results {str(path)!r} is a run directory, not a study: plot one run with "
                f"`qopt plot {path}` (or `qopt figures --run {path}`)")
    return None


def plot_runs(run_dirs: list[str], out: str, prog: str) -> int:
    """Draw each run's curves (:func:`figures.plot_run.plot_run`) into ``out``; user errors
    (not a run directory) are one line on stderr and exit 2."""
    from figures.plot_run import plot_run

    for rd in run_dirs:
        try:
            res = plot_run(out, rd)
        except ValueError as exc:
            print(f"{prog}: error: {exc}", file=sys.stderr)
            return 2
        print(f"{rd}: {', '.join(p.split(' ', 1)[1] for p in res.data['panels'])} -> "
              f"{res.pdf}, {res.png.name}")
        for problem in res.layout_problems:
            print(f"  warning: layout: {problem}", file=sys.stderr)
    return 0


def run(args: argparse.Namespace) -> int:
    from figures.registry import DEFAULT_RESULTS, FIGURES, BuildContext, MissingInput

    if args.list:
        for spec in FIGURES.values():
            print(f"{spec.name:22s} [{spec.kind}] {spec.summary}")
        return 0
    if args.run:
        if args.only or args.results != str(DEFAULT_RESULTS):
            print("qopt figures: error: --run draws one run's curves; it does not combine with "
                  "--only or --results", file=sys.stderr)
            return 2
        return plot_runs(args.run, args.out, "qopt figures")
    requested = parse_names(args.only, FIGURES, "qopt figures", "figure")
    if requested is None:
        return 2
    results = Path(args.results)
    problem = results_problem(results)
    # the default study directory may be absent (its figures are skipped); a --results given
    # explicitly, or a default that is not a study, is the user's to fix
    if problem and (args.results != str(DEFAULT_RESULTS) or results.exists()):
        print(f"qopt figures: error: {problem}", file=sys.stderr)
        return 2
    names = requested or list(FIGURES)
    ctx = BuildContext(out_dir=Path(args.out), results=results,
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
