"""The ``qopt`` command line: one entry point, one module per subcommand.

Each subcommand lives in ``qopt/commands/<name>.py`` and provides ``add_arguments(parser)`` and
``run(args) -> int`` (the exit code). The modules are imported to build the parser, so they keep
their heavy imports (matplotlib, the trainer, the benchmarks) inside ``run``; torch itself is
loaded by ``import qopt`` (about 1.5 s of ``qopt --help``).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from qopt import __version__

#: subcommand name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("qopt.commands.train", "train one model (flags or a TOML config)"),
    "study": ("qopt.commands.study", "run a resumable grid of training runs (default: 'quick')"),
    "verify": ("qopt.commands.verify", "verify a quantizer, the theory, or a training run"),
    "figures": ("qopt.commands.figures", "build the paper figures (PDF + PNG)"),
    "bench": ("qopt.commands.bench", "run the benchmark suite and write BENCHMARKS.md"),
    "reproduce": ("qopt.commands.reproduce", "reproduce or refute the papers' claims (report)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qopt",
        description="qopt: theory and verification toolkit for quantized neural-network training.",
    )
    parser.add_argument("--version", action="version", version=f"qopt {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            p.set_defaults(_missing=module)
            continue
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``qopt`` console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if getattr(args, "_missing", None):
        print(f"qopt {args.command}: not available in this build ({args._missing})",
              file=sys.stderr)
        return 2
    return int(args._run(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
