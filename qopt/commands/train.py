"""``qopt train``: train one model from flags and/or a TOML config.

Every :class:`~qopt.train.config.TrainConfig` field is a flag (``--weights ternary``,
``--model-args '{channels=16}'``, ``--milestones '[80,140]'``); values are TOML literals.
A TOML file gives the same fields (top level or a ``[train]`` table); flags override it.
Under ``torchrun`` every rank runs this command; the trainer joins the process group (DDP).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

from qopt.train.values import parse_sets, parse_value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from qopt.train.config import TrainConfig

    parser.add_argument("config", nargs="?", help="TOML file with TrainConfig fields")
    parser.add_argument("--out", help="run directory (default runs/<dataset>-<model>-<method>"
                                      "-<weights>-seed<seed>)")
    parser.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                        help="continue from RUN_DIR/checkpoint.pt if present (default: yes)")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="tqdm progress bar (default: only on a terminal)")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="any config field")
    g = parser.add_argument_group("config fields (TOML literals)")
    for f in dataclasses.fields(TrainConfig):
        g.add_argument("--" + f.name.replace("_", "-"), dest=f"cfg_{f.name}", default=None,
                       metavar="V")


def config_from_args(args: argparse.Namespace) -> dict:
    """Merge the TOML file, ``--set`` items and the field flags (later wins)."""
    from qopt.study.config import parse_toml

    d: dict = {}
    if args.config:
        p = Path(args.config)
        if not p.is_file():
            raise ValueError(f"config file {str(p)!r} does not exist")
        t = parse_toml(p.read_text(encoding="utf-8"), str(p))
        d.update(t["train"] if isinstance(t.get("train"), dict) else t)
    d.update(parse_sets(args.set))
    for k, v in vars(args).items():
        if k.startswith("cfg_") and v is not None:
            d[k[4:]] = parse_value(v)
    return d


def run(args: argparse.Namespace) -> int:
    from qopt.train.config import TrainConfig
    from qopt.train.trainer import train

    main = int(os.environ.get("RANK", "0")) == 0
    try:
        cfg = TrainConfig.from_dict(config_from_args(args)).validate()
    except (ValueError, TypeError) as exc:
        print(f"qopt train: error: {exc}", file=sys.stderr)
        return 2
    out = args.out or os.path.join(
        "runs", f"{cfg.dataset}-{cfg.model}-{cfg.method}-"
                f"{(cfg.weights or 'fp').replace(':', '')}-seed{cfg.seed}")
    res = train(cfg, out, resume=args.resume, progress=args.progress)
    if main and res is not None:
        fin = res["final"]
        acc = fin.get("test_acc")
        what = f"test_acc {100 * acc:.2f}%" if acc is not None else \
            f"test_loss {fin['test_loss']:.5g}"
        print(f"{cfg.method} {cfg.weights or ''} on {cfg.dataset}/{cfg.model}: {what}, "
              f"train_loss {fin['train_loss']:.4g} after {res['epochs']} epochs "
              f"({res['wall_s']:.1f} s)")
        print(f"run directory: {out}")
    return 0
