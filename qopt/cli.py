"""The ``qopt`` command line: one entry point, one module per subcommand.

Each subcommand lives in ``qopt/commands/<name>.py`` and provides ``add_arguments(parser)`` and
``run(args) -> int`` (the exit code). :func:`main` imports only the module of the command it
runs (``qopt --help`` imports none), and ``add_arguments`` reads only torch-free registries and
typed configs, keeping every heavy import (torch, matplotlib, scipy, the trainer, the
benchmarks) inside ``run``: any ``--help`` answers in a few tenths of a second
(``tests/test_cli_help.py`` checks that no help imports torch, scipy or matplotlib).

**Error boundary** (:func:`main`). By the house convention, a bad value or type given by the user
raises ``ValueError`` / ``TypeError`` naming the argument, and a file-system problem ``OSError``;
these are *user errors*, wherever they are raised (config building, data loading, training,
resume, verify): one line ``qopt <command>: error: <message>`` on stderr, exit 2; a closed stdout
pipe (``qopt ... | head``) ends the command quietly with exit 1. A diverged run
(``FloatingPointError``, e.g. ``qopt.NonFiniteError``) is one line and exit 1. Ctrl-C exits 130
with a line saying how to resume. Every other exception (``RuntimeError``, ``KeyError``,
``AssertionError``, ...) is a bug of ours and keeps its traceback. ``QOPT_TRACEBACK=1`` shows the
traceback of user errors too (to debug a message).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings
from collections.abc import Iterable, Sequence
from typing import NoReturn, TextIO

from qopt import __version__

#: subcommand name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("qopt.commands.train", "train one model (flags or a TOML config)"),
    "study": ("qopt.commands.study", "run a resumable grid of training runs (default: 'quick')"),
    "verify": ("qopt.commands.verify", "verify a quantizer, the theory, or a training run"),
    "figures": ("qopt.commands.figures", "build the paper figures (PDF + PNG)"),
    "plot": ("qopt.commands.plot", "plot one training run's curves (PDF + PNG)"),
    "bench": ("qopt.commands.bench", "run the benchmark suite and write BENCHMARKS.md"),
    "reproduce": ("qopt.commands.reproduce", "reproduce or refute the papers' claims (report)"),
}


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors as one line (``qopt train: error: ...; see qopt train
    --help``), exit 2, like every other user error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser(commands: Iterable[str] | None = None) -> argparse.ArgumentParser:
    """The ``qopt`` parser; the options of ``commands`` (default: every command) are added by
    importing their modules, the other commands are listed by name and help only."""
    parser = _Parser(
        prog="qopt",
        description="qopt: theory and verification toolkit for quantized neural-network training.",
        epilog="Run 'qopt COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"qopt {__version__}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = set(COMMANDS if commands is None else commands)
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name not in wanted:
            continue
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


#: exception types that are the user's (bad input, bad file), not ours; see the module docstring
USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, TypeError, OSError)
#: what an interrupted command leaves behind, and how to continue
ON_INTERRUPT = {
    "train": "rerun the same command to resume from the last checkpoint",
    "study": "rerun the same command to resume (finished runs are kept)",
    "figures": "the figures written so far are complete; rerun to build the others",
    "reproduce": "rerun the same command to resume (finished claims and runs are kept)",
}


def _one_line(exc: BaseException) -> str:
    """:func:`qopt.commands.one_line` (imported on use: ``qopt --help`` imports no command)."""
    from qopt.commands import one_line

    return one_line(exc)


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: TextIO | None = None, line: str | None = None) -> None:
    """qopt's own warnings as one line ``qopt: warning: ...``; others as Python prints them."""
    if category.__module__.startswith(("qopt", "proofs_check", "theory")):
        print(f"qopt: warning: {message}", file=file or sys.stderr)
    else:
        _default_showwarning(message, category, filename, lineno, file, line)


_default_showwarning = warnings.showwarning


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's final flush does not fail again on
    the closed pipe (the recipe of Python's ``signal`` documentation)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (tests capture it)
        pass


def command_of(argv: Sequence[str]) -> str | None:
    """The command an argument list runs: its first word that is not an option."""
    return next((a for a in argv if not a.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``qopt`` console script; returns the process exit code (0 success,
    1 a check or run failed, 2 a user error, 130 interrupted)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser([c for c in [command_of(argv)] if c in COMMANDS])
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    prog = f"qopt {args.command}"
    if getattr(args, "_missing", None):
        print(f"{prog}: not available in this build ({args._missing})", file=sys.stderr)
        return 2
    debug = os.environ.get("QOPT_TRACEBACK", "") not in ("", "0")
    warnings.showwarning = _show_warning
    try:
        return int(args._run(args) or 0)
    except BrokenPipeError:  # the reader of stdout went away (``qopt ... | head``): not an error
        _silence_stdout()
        return 1
    except KeyboardInterrupt:
        hint = ON_INTERRUPT.get(args.command, "no result was written")
        print(f"\n{prog}: interrupted; {hint}", file=sys.stderr)
        return 130
    except FloatingPointError as exc:
        if debug:
            raise
        print(f"{prog}: failed: {_one_line(exc)}", file=sys.stderr)
        return 1
    except USER_ERRORS as exc:
        if debug:
            raise
        print(f"{prog}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    finally:
        warnings.showwarning = _default_showwarning


if __name__ == "__main__":  # pragma: no cover - python -m qopt.cli: as python -m qopt
    from qopt._imports import isolate_entry_path

    isolate_entry_path()
    sys.exit(main())
