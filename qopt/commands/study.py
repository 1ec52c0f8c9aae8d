"""``qopt study [CONFIG.toml | PRESET]``: run a resumable grid of training runs.

With no argument the built-in ``quick`` study runs (MNIST-1D, float vs BinaryConnect vs
BinaryRelax vs BCGD at binary / ternary / 2-bit weights, 3 seeds). Rerunning the same command
continues an interrupted study; finished runs are never recomputed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from qopt.train.values import parse_sets


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="?", default="quick",
                        help="study TOML file or preset name (default: quick)")
    parser.add_argument("--out", help="study directory (default: [study] out_dir, else "
                                      "./studies/<name>)")
    parser.add_argument("--workers", type=int, help="parallel worker processes (default: "
                                                    "[study] workers, else 1)")
    parser.add_argument("--threads", type=int, help="torch threads per worker (default: "
                                                    "[study] threads_per_worker, else 1)")
    parser.add_argument("--data-dir", help="data directory for every run (CIFAR, ImageNet; "
                                           "default: none)")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="override a TrainConfig field in every run (after [base]; "
                             "default: none)")
    parser.add_argument("--max-runs", type=int, help="start at most N pending runs, then stop "
                                                     "(default: all)")
    parser.add_argument("--show", action="store_true", help="print the study TOML and exit "
                                                            "(default: off)")
    parser.add_argument("--list", action="store_true", help="list the built-in presets "
                                                            "(default: off)")


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from qopt.study import PRESETS, parse_toml, run_study, study_from_dict

    if args.list:
        for name, text in PRESETS.items():
            desc = parse_toml(text)["study"].get("description", "")
            print(f"{name:24s} {desc}")
        return 0
    try:
        if args.config in PRESETS:
            text, source = PRESETS[args.config], f"preset {args.config!r}"
        else:
            p = Path(args.config)
            if not p.is_file():
                raise ValueError(f"{args.config!r} is neither a study file nor a preset "
                                 f"({', '.join(PRESETS)})")
            text, source = p.read_text(encoding="utf-8"), str(p)
        if args.show:
            print(text.strip())
            return 0
        over = parse_sets(args.set)
        if args.data_dir:
            over["data_dir"] = args.data_dir
        study = study_from_dict(parse_toml(text, source), over)
        if args.threads is not None:
            if args.threads < 1:
                raise ValueError(f"--threads must be >= 1, got {args.threads}")
            study = dataclasses.replace(study, threads_per_worker=args.threads)
        if args.workers is not None and args.workers < 1:
            raise ValueError(f"--workers must be >= 1, got {args.workers}")
    except (ValueError, TypeError) as exc:
        print(f"qopt study: error: {exc}", file=sys.stderr)
        return 2
    summary = run_study(study, args.out, workers=args.workers, max_runs=args.max_runs)
    print()
    print(summary["table"])
    out = Path(summary["out_dir"])
    print(f"\n{summary['n_done']}/{summary['n_runs']} runs finished "
          f"({summary['wall_s']:.0f} s this call)")
    if summary["n_done"] < summary["n_runs"] and not summary["failed"]:
        print("rerun the same command to continue the study")
    print(f"results: {out / 'results.csv'} (+ results.json, curves.json, runs/)")
    if summary["failed"]:
        print(f"{len(summary['failed'])} run(s) failed: see runs/<id>/error.txt: "
              + ", ".join(summary["failed"]), file=sys.stderr)
        return 1
    return 0
