"""``qopt study [CONFIG.toml | PRESET]``: run a resumable grid of training runs.

With no argument the built-in ``quick`` study runs (MNIST-1D, float vs BinaryConnect vs
BinaryRelax vs BCGD at binary / ternary / 2-bit weights, 3 seeds). Rerunning the same command
continues an interrupted study; finished runs are never recomputed. ``--set`` edits the study
before it is validated (``--set lr=0.05``, ``--set methods.bcgd.rho=0.01``,
``--set 'method_args={rho=0.01}'``, ``--set study.last_k=3``; see
:mod:`qopt.study.overrides`); ``--show`` prints the study as it would run. ``--backend``
chooses where the runs execute: ``local`` worker processes (default), ``slurm`` (one job per
run through submitit, ``pip install 'qopt[slurm]'``) or ``ray`` (Ray tasks, ``'qopt[ray]'``);
see :mod:`qopt.study.backends`.

Exit codes: 0 every run finished, 1 some run failed (its ``runs/<id>/error.txt``), 2 a bad study
or a study directory holding runs of a different configuration (nothing written).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from qopt.suggest import did_you_mean
from qopt.train.values import parse_sets


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from qopt.train.options import fields_epilog

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = fields_epilog()
    parser.add_argument("config", nargs="?", default="quick",
                        help="study TOML file or preset name (default: quick; presets: see "
                             "--list)")
    parser.add_argument("--out", help="study directory (default: [study] out_dir, else "
                                      "./studies/<name>)")
    parser.add_argument("--workers", type=int, help="parallel worker processes of the local "
                                                    "backend (default: [study] workers, else 1)")
    parser.add_argument("--threads", type=int, help="torch threads per worker (default: "
                                                    "[study] threads_per_worker, else 1)")
    parser.add_argument("--data-dir", help="data directory for every run (CIFAR, ImageNet; "
                                           "default: none)")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="edit the study: FIELD=V (every run), method_args={k=v} (routed "
                             "per method), methods.M.KEY=V, study.KEY=V, grid.KEY=[..] "
                             "(repeatable; default: none)")
    parser.add_argument("--max-runs", type=int, help="start at most N pending runs, then stop; "
                                                     "0: validate and refresh the results "
                                                     "(default: all)")
    parser.add_argument("--show", action="store_true", help="print the study TOML (with --set "
                        "applied) and exit (default: off)")
    parser.add_argument("--list", action="store_true", help="list the built-in presets "
                                                            "(default: off)")
    b = parser.add_argument_group("backend (where the runs execute; also the study file's "
                                  "[backend] table)")
    b.add_argument("--backend", choices=("local", "slurm", "ray"),
                   help="local worker processes, SLURM jobs via submitit (qopt[slurm]) or Ray "
                        "tasks (qopt[ray]) (default: [backend] name, else local)")
    b.add_argument("--partition", help="slurm: partition (default: the cluster's)")
    b.add_argument("--time", help="slurm: time limit per job, minutes or [D-]HH:MM:SS "
                                  "(default: 240)")
    b.add_argument("--gpus-per-run", type=_number, help="slurm, ray: GPUs per run (default: 0)")
    b.add_argument("--cpus-per-run", type=int, help="slurm, ray: CPUs per run (default: the "
                                                    "torch threads per run)")
    b.add_argument("--array-parallelism", type=int, help="slurm: jobs of one array running at "
                                                         "once (default: 256)")
    b.add_argument("--address", help="ray: cluster address, e.g. auto or ray://HOST:10001 "
                                     "(default: an embedded local Ray)")
    b.add_argument("--num-cpus", type=int, help="ray: CPUs of the embedded Ray (default: "
                                                "workers x cpus per run)")


def _number(text: str) -> int | float:
    """An int where the text is one, else a float (``--gpus-per-run 1``, ``0.5`` for Ray)."""
    try:
        return int(text)
    except ValueError:
        return float(text)


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from qopt.study import PRESETS, StudyConflict, parse_toml, run_study, study_from_dict
    from qopt.study.backends import BackendError
    from qopt.study.backends.options import with_overrides
    from qopt.study.overrides import apply_sets
    from qopt.study.toml_out import to_toml

    if args.list:
        for name, text in PRESETS.items():
            desc = parse_toml(text)["study"].get("description", "")
            print(f"{name:24s} {desc}")
        return 0
    try:
        if args.config in PRESETS:
            text, source = PRESETS[args.config], f"preset {args.config!r}"
        else:
            from qopt.io import read_text

            p = Path(args.config)
            if not p.exists():
                raise ValueError(f"{args.config!r} is neither a study file nor a preset "
                                 f"({', '.join(PRESETS)}){did_you_mean(args.config, PRESETS)}")
            text, source = read_text(p, f"study file {str(p)!r}"), str(p)  # regular, bounded
        over = parse_sets(args.set)
        if args.data_dir:
            if "data_dir" in over:
                raise ValueError("data_dir given twice, as --set data_dir=... and as "
                                 "--data-dir; give it once")
            over["data_dir"] = args.data_dir
        raw = parse_toml(text, source)
        if args.show:
            print((to_toml(apply_sets(raw, over)) if over else text).strip())
            return 0
        study = study_from_dict(raw, over)
        from qopt.study.config import MAX_PROCESSES

        if args.threads is not None:
            if not 1 <= args.threads <= MAX_PROCESSES:
                raise ValueError(f"--threads must be in [1, {MAX_PROCESSES}], got "
                                 f"{args.threads}")
            study = dataclasses.replace(study, threads_per_worker=args.threads)
        if args.workers is not None and not 1 <= args.workers <= MAX_PROCESSES:
            raise ValueError(f"--workers must be in [1, {MAX_PROCESSES}], got {args.workers}")
        if args.max_runs is not None and args.max_runs < 0:
            raise ValueError(f"--max-runs must be >= 0 (0: validate and refresh the results "
                             f"only), got {args.max_runs}")
        backend = with_overrides(study.backend, args.backend, partition=args.partition,
                                 time=args.time, gpus_per_run=args.gpus_per_run,
                                 cpus_per_run=args.cpus_per_run,
                                 array_parallelism=args.array_parallelism,
                                 address=args.address, num_cpus=args.num_cpus)
    except (ValueError, TypeError) as exc:
        print(f"qopt study: error: {exc}", file=sys.stderr)
        return 2
    try:
        summary = run_study(study, args.out, workers=args.workers, max_runs=args.max_runs,
                            backend=backend)
    except (StudyConflict, BackendError) as exc:
        print(f"qopt study: error: {exc}", file=sys.stderr)
        return 2
    print()
    print(summary["table"])
    out = Path(summary["out_dir"])
    print(f"\n{summary['n_done']}/{summary['n_runs']} runs finished "
          f"({summary['wall_s']:.0f} s this call)")
    if summary["in_use"]:
        print(f"{len(summary['in_use'])} run(s) in use by another process (not failed): "
              + ", ".join(summary["in_use"]))
    if summary["n_done"] < summary["n_runs"] and not summary["failed"]:
        print("rerun the same command to continue the study")
    print(f"results: {out / 'results.csv'} (+ results.json, curves.json, runs/)")
    if summary["failed"]:
        print(f"{len(summary['failed'])} run(s) failed: see runs/<id>/error.txt: "
              + ", ".join(summary["failed"]), file=sys.stderr)
        return 1
    return 0
