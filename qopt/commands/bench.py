"""``qopt bench [--quick] [--out BENCHMARKS.md]``: run the benchmark suite.

Measures, in one run and as ratios: each exact projection vs its floor (1e4..1e7 elements), the
optimizer-step overhead of each method vs the bare optimizer (and vs torchao's QuantOptimizer when
installed), and training throughput float vs quantized (MLP, ResNet-20 at CIFAR size). Uses CUDA
when present. Writes BENCHMARKS.md (machine info + tables; the block of this device kind only)
and BENCHMARKS.json next to it, then the benchmark figures (projection scaling, optimizer-step
overhead) into ``--figures`` (default figures_out).
``--quick`` is a smoke run (seconds), not a measurement.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from qopt.commands import parse_names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: tiny sizes, one repeat (not a measurement)")
    parser.add_argument("--out", default="BENCHMARKS.md",
                        help="markdown report (default BENCHMARKS.md; JSON written beside it)")
    parser.add_argument("--only", action="append", metavar="SECTION",
                        help="run only these sections (repeat or comma-separate): projection, "
                             "optimizer_step, throughput")
    parser.add_argument("--figures", default="figures_out", metavar="DIR",
                        help="where the scaling figure goes (default figures_out)")
    parser.add_argument("--no-figures", action="store_true", help="skip the scaling figure")


def run(args: argparse.Namespace) -> int:
    from benchmarks.suite import SECTIONS, run_suite, write_results

    only = parse_names(args.only, SECTIONS, "qopt bench", "section")
    if only is None:
        return 2
    results = run_suite(quick=args.quick, only=only or None)
    md, js = write_results(results, args.out)
    print(f"wrote {md} and {js}")
    if not args.no_figures:
        from figures.plot_bench_optimizer import plot_bench_optimizer
        from figures.plot_bench_scaling import load_bench_json, plot_bench_scaling

        bench = load_bench_json(js)
        for plot in (plot_bench_scaling, plot_bench_optimizer):
            try:
                res = plot(Path(args.figures), bench)
                print(f"figure: {res.pdf} {res.png}")
            except ValueError as exc:  # e.g. no rows of that section in the results
                print(f"figure skipped: {exc}", file=sys.stderr)
    failed = [n for n, e in results["sections"].items() if e.get("error")]
    if failed:
        print(f"section(s) not measured: {', '.join(failed)} (see {md})", file=sys.stderr)
        return 1
    return 0
