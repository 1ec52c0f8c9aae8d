"""``qopt plot RUN_DIR [RUN_DIR ...] [--out DIR]``: one training run's curves.

The same figure as ``qopt figures --run RUN_DIR`` (:func:`figures.plot_run.plot_run`): loss
(minibatch, training set, test), training / validation / test accuracy (and the final,
BatchNorm re-estimated test accuracy), learning rate, the method's scalars (λ, ρ, PARQ's
inverse slope, ...), dist² to the set and code flips, against the step, phase II shaded;
written as ``DIR/run_<id>.pdf`` and ``.png``. A path that is not a run directory (a study, a
missing path) is one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse

from qopt.commands import described
from qopt.commands.figures import OUT_DIR


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", nargs="+", metavar="RUN_DIR",
                        help=described("run directory written by qopt train or a study's "
                                       "runs/<id>", required=True))
    parser.add_argument("--out", default=OUT_DIR,
                        help=described("output directory (run_<id>.pdf and .png)", OUT_DIR))


def run(args: argparse.Namespace) -> int:
    from qopt.commands.figures import plot_runs

    return plot_runs(args.run_dir, args.out, "qopt plot")
