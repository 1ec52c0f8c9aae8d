"""``qopt train``: train one model from flags, a TOML file, or a run's own ``config.json``.

Every :class:`~qopt.train.config.TrainConfig` field is a flag with its description, default and
choices in ``--help`` (generated from the field metadata). Tables take ``key=value,...`` or a
TOML inline table (``--method-args lam0=2,growth=1.1``, ``--model-args '{channels=16}'``),
lists ``a,b`` or ``[a, b]``. ``--config FILE`` reads the same fields from a TOML file (top
level or a ``[train]`` table) or a JSON ``config.json`` (a run directory works too): ``qopt
train --config RUN --out NEW`` reruns that run's exact configuration. Precedence: config file
< ``--set`` < field flags.

The default run directory is ``runs/<dataset>-<model>-<method>-<weights>-seed<seed>-<hash>``,
the hash covering every setting that defines the run (identity, see
:mod:`qopt.train.identity`): another lr or epoch count is another directory. A directory that
holds a different configuration is refused (exit 2, naming the differing fields). Exit codes:
0 trained (or already finished: its result is printed), 1 the run diverged (non-finite loss or
weights; the last good checkpoint is kept), 2 usage or configuration error.
Under ``torchrun`` every rank runs this command; the trainer joins the process group (DDP).
When the exact projection takes more than half of the training step (measured once, over
steps 3-7: :class:`qopt.optim.cost.CostMeter`), one ``note:`` line on stderr says so with the
measured share (e.g. a per-channel projection of a large MLP); the run is unchanged.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from qopt.train.options import add_config_arguments, config_overrides, field_value
from qopt.train.values import parse_sets


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from qopt.train.options import method_args_help

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = method_args_help()
    parser.add_argument("config", nargs="?", metavar="CONFIG",
                        help="TOML/JSON file with TrainConfig fields, or a run directory "
                             "(same as --config; default: none)")
    parser.add_argument("--config", dest="config_opt", metavar="FILE",
                        help="TOML file, a run's config.json, or a run directory (default: "
                             "none, every field at its default)")
    parser.add_argument("--out", help="run directory (default: runs/<dataset>-<model>-<method>-"
                                      "<weights>-seed<seed>-<config hash>)")
    parser.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                        help="continue from RUN_DIR/checkpoint.pt if present; --no-resume "
                             "replaces whatever RUN_DIR holds (default: resume)")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="tqdm progress bar (default: only on a terminal)")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="any config field (repeatable; default: none)")
    add_config_arguments(parser)


def read_config_file(path: str) -> dict[str, Any]:
    """Fields from a TOML file (top level or ``[train]``), a JSON file, or a run directory."""
    from qopt.io import parse_json, read_text
    from qopt.study.config import parse_toml

    p = Path(path)
    if p.is_dir():
        p = p / "config.json"
    if not p.exists():
        raise ValueError(f"config file {str(p)!r} does not exist")
    text = read_text(p, f"config file {str(p)!r}")  # a regular file of bounded size
    if p.suffix == ".json":
        d = parse_json(text, f"config file {str(p)!r}")
        if not isinstance(d, dict):
            raise ValueError(f"config file {str(p)!r} must hold a JSON object")
        return d
    t = parse_toml(text, str(p))
    return t["train"] if isinstance(t.get("train"), dict) else t


def config_from_args(args: argparse.Namespace) -> dict:
    """Merge the config file, ``--set`` items and the field flags (later wins)."""
    if args.config and getattr(args, "config_opt", None):
        raise ValueError("give the config file once (positional CONFIG or --config)")
    d: dict = {}
    path = args.config or getattr(args, "config_opt", None)
    if path:
        d.update(read_config_file(path))
    sets = parse_sets(args.set)
    flags = config_overrides(args)
    both = sorted(set(sets) & set(flags))
    if both:  # which one wins is not obvious from the command line: give it once
        k = both[0]
        v = str(sets[k]) if len(str(sets[k])) <= 40 else f"{str(sets[k])[:37]}..."
        raise ValueError(f"{k} given twice, as --set {k}={v} and as --{k.replace('_', '-')}; "
                         "give it once")
    for k, v in sets.items():
        d[k] = field_value(k, v)
    d.update(flags)
    return d


def _summary(res: dict, cfg: Any, out: str, fresh: bool) -> str:
    fin = res["final"]
    acc = fin.get("test_acc")
    what = f"test_acc {100 * acc:.2f}%" if acc is not None else \
        f"test_loss {fin['test_loss']:.5g}"
    if fin.get("bn_recalibrated") and res.get("final_raw", {}).get("test_acc") is not None:
        what += f" (BN re-estimated; {100 * res['final_raw']['test_acc']:.2f}% with running " \
                "statistics)"
    note = "" if fresh else " [finished earlier: stored result]"
    if cfg.nonfinite == "skip":  # the count is always said, 0 included
        from qopt.train.divergence import skipped_text

        note = f"; {skipped_text(res.get('skipped_steps', 0), res['steps'])}{note}"
    return (f"{cfg.method} {cfg.weights or ''} on {cfg.dataset}/{cfg.model}: {what}, "
            f"train_loss {fin['train_loss']:.4g} after {res['epochs']} epochs "
            f"({res['wall_s']:.1f} s){note}\nrun directory: {out}")


def run(args: argparse.Namespace) -> int:
    from qopt.commands import one_line
    from qopt.train.config import TrainConfig
    from qopt.train.divergence import TrainingDiverged
    from qopt.train.record import default_run_name, run_record
    from qopt.train.trainer import train

    main = int(os.environ.get("RANK", "0")) == 0
    try:
        cfg = TrainConfig.from_dict(config_from_args(args)).validate()
        out = args.out or os.path.join("runs", default_run_name(cfg, run_record(cfg)))
    except (ValueError, TypeError) as exc:
        print(f"qopt train: error: {one_line(exc)}", file=sys.stderr)
        return 2
    fresh = not (Path(out) / "result.json").exists() or not args.resume
    try:
        res = train(cfg, out, resume=args.resume, progress=args.progress)
    except TrainingDiverged as exc:
        print(f"qopt train: {one_line(exc)}", file=sys.stderr)
        return 1
    except ValueError as exc:  # a user error found while training (conflict, init, data)
        print(f"qopt train: error: {one_line(exc)}", file=sys.stderr)
        return 2
    if main and res is not None:
        print(_summary(res, cfg, out, fresh))
    return 0
