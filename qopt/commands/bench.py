"""``qopt bench [--quick] [--out BENCHMARKS.md]``: run the benchmark suite.

Measures, in one run and as ratios: each exact projection vs its floor (1e4..1e7 elements), the
optimizer-step overhead of each method vs the bare optimizer (and vs torchao's QuantOptimizer when
installed), and training throughput float vs quantized (MLP, ResNet-20 at CIFAR size). Uses CUDA
when present. Writes BENCHMARKS.md (machine info + tables; the block of this device kind only)
and BENCHMARKS.json next to it, then the benchmark figures (projection scaling, optimizer-step
overhead) into ``--figures`` (default figures_out).

Never silent, never lost: a line per section as it starts and ends and, inside a section, a
progress bar on a terminal or one line per unit of work otherwise (on stderr); both files are
rewritten after **every** section, so an interrupted run (Ctrl-C, or SIGTERM from a batch
scheduler) keeps every finished section, and the rows of the interrupted one are kept under
"interrupted" (exit code 130).

``--quick`` is a smoke run (seconds), not a measurement: its default output is
``bench_quick/BENCHMARKS.md`` (figures in ``bench_quick/figures``), and it refuses (exit 2)
to write a file that holds measured results for the sections it would replace.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any

from qopt.commands import add_names_option, described, parse_names
from qopt.commands.figures import OUT_DIR as FIGURES_DIR

#: where smoke runs go unless --out says otherwise (ignored by git)
QUICK_DIR = Path("bench_quick")
#: the report of record
MD = "BENCHMARKS.md"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from benchmarks.suite import SECTIONS

    parser.add_argument("--quick", action="store_true",
                        help="smoke run: tiny sizes, one repeat (not a measurement; written to "
                             f"{QUICK_DIR}/ unless --out is given, never over measured results; "
                             "default: off)")
    parser.add_argument("--out", default=None,
                        help=described("markdown report; the JSON goes beside it", f"{MD}, "
                                       f"with --quick {QUICK_DIR / MD}"))
    add_names_option(parser, "--only", known=SECTIONS, metavar="SECTION",
                     text="run only these sections (repeat or comma-separate)")
    parser.add_argument("--figures", default=None, metavar="DIR",
                        help=described("where the benchmark figures go", f"{FIGURES_DIR}, with "
                                       f"--quick {QUICK_DIR / 'figures'}"))
    parser.add_argument("--no-figures", action="store_true",
                        help="skip the benchmark figures (default: off)")


class _Display:
    """The suite's :class:`benchmarks.suite.Reporter` on stderr: a line per section start and
    end, and per section a :class:`~qopt.commands.progress.Progress` (bar on a terminal, one
    line per unit otherwise)."""

    def __init__(self, md: Path) -> None:
        self.md = md
        self.bar: Any = None

    def _write(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line)
        else:
            print(line, file=sys.stderr, flush=True)

    def section_start(self, name: str, index: int, count: int) -> None:
        from qopt.commands.progress import Progress

        self._write(f"[bench] {name} ({index}/{count}) started")
        self.bar = Progress(f"bench {name}")

    def section_total(self, name: str, total: int) -> None:
        if self.bar is not None:
            self.bar.set_total(total)

    def section_unit(self, name: str, done: int, total: int | None, desc: str) -> None:
        if self.bar is not None:
            if total != self.bar.total:
                self.bar.set_total(total)
            self.bar.update(desc)

    def section_end(self, name: str, entry: dict[str, Any]) -> None:
        from benchmarks.suite import section_status

        self.close()
        self._write(f"[bench] {name} {section_status(entry)} (saved in {self.md})")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run(args: argparse.Namespace) -> int:
    from benchmarks.suite import (
        SECTIONS,
        MeasuredResultsError,
        device_kind,
        measured_sections,
        run_suite,
        write_results,
    )

    only = parse_names(args.only, SECTIONS, "qopt bench", "section")
    if only is None:
        return 2
    md = Path(args.out) if args.out else (QUICK_DIR / MD if args.quick else Path(MD))
    js = md.with_suffix(".json")
    figs = Path(args.figures) if args.figures else (QUICK_DIR / "figures" if args.quick
                                                    else Path(FIGURES_DIR))
    kind = device_kind()
    try:
        measured = measured_sections(js, kind)
    except ValueError as exc:
        print(f"qopt bench: error: {exc}", file=sys.stderr)
        return 2
    clash = sorted(measured & set(only or SECTIONS)) if args.quick else []
    if clash:
        print(f"qopt bench: error: {js} holds measured {kind} results for {', '.join(clash)}; "
              "a --quick smoke run does not replace them: drop --out (smoke runs go to "
              f"{QUICK_DIR}/) or name another file", file=sys.stderr)
        return 2
    if "optimizer_step" in (only or SECTIONS):  # an optional comparison: said up front
        from qopt.extras import PACKAGES, missing

        if missing(["torchao"]):
            print(f"qopt bench: note: torchao is not installed: optimizer_step's torchao rows "
                  f"are left out (install it with: {PACKAGES['torchao'][1]})", file=sys.stderr)
    display = _Display(md)
    try:  # SIGTERM (batch schedulers, kill) ends the run like Ctrl-C: finished work is kept
        old = signal.signal(signal.SIGTERM, _sigterm)
    except ValueError:  # not the main thread: leave signals alone
        old = None
    try:
        results = run_suite(quick=args.quick, only=only or None, reporter=display,
                            checkpoint=lambda res: write_results(res, md, js))
    except KeyboardInterrupt:
        display.close()
        print(f"qopt bench: interrupted; the finished sections are in {md} and {js} (rows of "
              "the interrupted section under 'interrupted')", file=sys.stderr)
        return 130
    except MeasuredResultsError as exc:
        display.close()
        print(f"qopt bench: error: {exc}", file=sys.stderr)
        return 2
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)
    display.close()
    print(f"wrote {md} and {js}")
    if not args.no_figures:
        _figures(js, figs)
    failed = [n for n, e in results["sections"].items() if e.get("error")]
    if failed:
        print(f"section(s) not measured: {', '.join(failed)} (see {md})", file=sys.stderr)
        return 1
    return 0


def _figures(js: Path, out: Path) -> None:
    from figures.bench_data import load_bench_json
    from figures.plot_bench_optimizer import plot_bench_optimizer
    from figures.plot_bench_scaling import plot_bench_scaling

    bench = load_bench_json(js)
    for plot in (plot_bench_scaling, plot_bench_optimizer):
        try:
            res = plot(out, bench)
        except ValueError as exc:  # e.g. no rows of that section in the results
            print(f"figure skipped: {exc}", file=sys.stderr)
            continue
        print(f"figure: {res.pdf} {res.png}")
        for problem in res.layout_problems:
            print(f"figure {res.name}: layout: {problem}", file=sys.stderr)
