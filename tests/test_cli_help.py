"""``qopt --help`` and ``qopt <command> --help``: every option explains itself, cheaply.

* Every option of every (sub)command has a one-line description, states its default (unless it
  is a flag, or required) and lists its choices when it takes values from a fixed set: the
  argparse ``choices``, the registry names of :func:`qopt.commands.add_names_option`
  (``action.known``), or a TrainConfig field's ``choices`` metadata.
* Those choices are the registries the commands validate against (asserted by identity of
  content, not by a second hand-written list).
* Building and printing every help imports none of :data:`HEAVY` (torch, scipy, matplotlib,
  ray, submitit, ...), checked on ``sys.modules`` in a subprocess, not on wall time; numpy is
  allowed: :mod:`theory`'s validation rules, which the method registry uses, are numpy code.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from qopt.cli import COMMANDS, build_parser

ROOT = Path(__file__).resolve().parents[1]
#: third-party packages no --help may import
HEAVY = ("torch", "torchvision", "scipy", "matplotlib", "sympy", "hypothesis", "pandas",
         "multiprocessing", "tensorboard", "ray", "submitit")
FLAGS = (argparse._StoreTrueAction, argparse._StoreFalseAction, argparse._VersionAction,
         argparse._HelpAction)


def walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
         ) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """(command path, parser) for the parser and every subparser below it."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from walk(sub, (*path, name))


def options() -> Iterator[tuple[tuple[str, ...], argparse.Action]]:
    for path, parser in walk(build_parser()):
        for action in parser._actions:
            if not isinstance(action, (argparse._SubParsersAction, argparse._HelpAction)):
                yield path, action


def _id(item: tuple[tuple[str, ...], argparse.Action]) -> str:
    path, action = item
    return " ".join(("qopt", *path, (action.option_strings or [action.dest])[0]))


def _choices(action: argparse.Action) -> tuple[str, ...]:
    """The fixed set an option takes its values from (empty when open)."""
    if getattr(action, "known", None):
        return tuple(action.known)
    if action.choices is not None:
        return tuple(map(str, action.choices))
    if action.dest.startswith("cfg_"):  # a TrainConfig field (qopt.train.options)
        from qopt.train.config import config_fields

        field = {f.name: f for f in config_fields()}[action.dest[4:]]
        return tuple(map(str, field.metadata.get("choices") or ()))
    return ()


def test_every_command_and_subcommand_is_walked() -> None:
    paths = {path for path, _ in walk(build_parser())}
    assert {(c,) for c in COMMANDS} <= paths
    assert {("verify", w) for w in ("quantizer", "theory", "run", "certificate")} <= paths


@pytest.mark.parametrize("item", list(options()), ids=_id)
def test_every_option_has_a_description_default_and_choices(item) -> None:
    path, action = item
    text = action.help
    assert text and text != argparse.SUPPRESS and len(text) > 10, "no description"
    text = text.replace("%%", "%")
    flag = isinstance(action, FLAGS) or (action.nargs == "?" and action.const == "true")
    # (argparse marks a positional ``nargs="*"`` without default required; it is not)
    if (action.required and action.nargs != "*") or (not action.option_strings
                                                     and action.nargs is None):
        assert re.search(r"\brequired\b", text), f"the help does not say 'required': {text!r}"
    elif not flag:
        assert re.search(r"\bdefault\b", text), f"the help does not state the default: {text!r}"
    missing = [c for c in _choices(action) if c not in " ".join(text.split())]
    assert not missing, f"choices {missing} not in the help: {text!r}"


def _action(path: tuple[str, ...], dest: str) -> argparse.Action:
    for p, action in options():
        if p == path and action.dest == dest:
            return action
    raise KeyError((path, dest))


def test_choices_come_from_the_registries_the_commands_validate_against() -> None:
    from benchmarks.suite import SECTIONS
    from figures.registry import DEFAULT_BENCH_JSON, DEFAULT_RESULTS, FIGURES
    from proofs_check.adapter import BACKENDS
    from qopt.reproduce.claim import Context
    from qopt.reproduce.registry import CLAIM_NAMES
    from theory.sets import SPEC_FORMS

    assert _action(("figures",), "only").known == tuple(FIGURES)
    assert _action(("bench",), "only").known == tuple(SECTIONS)
    assert _action(("reproduce",), "claims").known == tuple(CLAIM_NAMES)
    assert tuple(_action(("verify", "quantizer"), "backend").choices) == tuple(BACKENDS)
    spec_help = " ".join(_action(("verify", "quantizer"), "qset").help.split())
    assert all(form in spec_help for form in SPEC_FORMS)
    # defaults: the values the commands use, from the same constants
    assert _action(("figures",), "results").default == str(DEFAULT_RESULTS)
    assert _action(("figures",), "bench_results").default == str(DEFAULT_BENCH_JSON)
    assert _action(("reproduce",), "workers").default == Context.__dataclass_fields__[
        "workers"].default
    # claims of verify theory are too costly to load for --help: --only points at --list
    assert "--list" in _action(("verify", "theory"), "only").help
    _action(("verify", "theory"), "list")


def test_verify_theory_list_names_every_claim(capsys) -> None:
    from proofs_check.claims import all_claims
    from qopt.cli import main

    assert main(["verify", "theory", "--list"]) == 0
    out = capsys.readouterr().out
    names = [line.split()[0] for line in out.splitlines()]
    assert names == list(all_claims()) and len(names) >= 10


HELP_PROBE = """
import contextlib, io, json, sys
from qopt.cli import main
heavy = {heavy!r}
def loaded():
    return sorted({{m.split('.')[0] for m in sys.modules}} & set(heavy))
report = {{}}
for argv in {argvs!r}:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        try:
            main([*argv, '--help'])
            code = 0
        except SystemExit as exc:
            code = exc.code
    report[' '.join(argv) or '(top)'] = [code, buf.getvalue().startswith('usage: qopt'),
                                         loaded()]
print(json.dumps(report))
"""


def test_no_help_imports_torch_scipy_or_matplotlib() -> None:
    argvs = [list(path) for path, _ in walk(build_parser())]
    code = HELP_PROBE.format(heavy=HEAVY, argvs=argvs)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout.strip().splitlines()[-1])
    assert len(report) == len(argvs) >= 11
    for cmd, (exit_code, usage, heavy) in report.items():
        assert exit_code == 0 and usage, f"qopt {cmd} --help failed"
        assert heavy == [], f"qopt {cmd} --help imported {heavy}"


def test_the_console_entry_point_help_imports_no_torch() -> None:
    """``python -m qopt --help`` as a user runs it, imports read from ``-X importtime``."""
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "qopt", "--help"],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0 and "usage: qopt" in r.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in r.stderr.splitlines()
                if line.startswith("import time:")}
    assert "qopt.cli" in imported  # the probe reads the right stream
    assert not {m for m in imported if m.split(".")[0] in HEAVY}
    # the top-level help lists the commands without importing them (or anything they need)
    assert not {m for m in imported if m.split(".")[0] in ("numpy", "theory", "proofs_check",
                                                            "figures", "benchmarks")
                or m.startswith(("qopt.commands", "qopt.train", "qopt.study"))}
