"""MkDocs hook: the command-line page ``cli.md``, generated from the real argparse parser.

The parser is found through the console script of ``pyproject.toml`` (``[project.scripts]
qopt = "MODULE:FUNC"``): ``MODULE.build_parser()`` builds it, exactly as ``qopt --help`` does.
The repository root goes first on ``sys.path``, so the page describes this checkout, not an
installed copy. Every subcommand (nested ones too) becomes a section with its usage line and a
table of its arguments (flags, default, help), grouped as ``--help`` groups them.

:func:`render` is importable on its own (the docs tests call it to check the page covers every
subcommand and option of the parser).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PAGE = "cli.md"


def load_parser(root: Path) -> tuple[str, argparse.ArgumentParser]:
    """``(program name, parser)`` of the first console script of ``root/pyproject.toml``."""
    meta = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    scripts = meta.get("project", {}).get("scripts", {})
    if not scripts:
        raise RuntimeError("pyproject.toml declares no [project.scripts] console script")
    prog, target = next(iter(scripts.items()))
    module_name = target.partition(":")[0]
    if str(root) not in sys.path[:1]:
        sys.path.insert(0, str(root))
    module = importlib.import_module(module_name)
    build = getattr(module, "build_parser", None)
    if build is None:
        raise RuntimeError(f"{module_name} has no build_parser() (needed for the CLI page)")
    return prog, build()


def _subparsers(parser: argparse.ArgumentParser) -> list[tuple[str, str, argparse.ArgumentParser]]:
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                out.append((name, helps.get(name, ""), sub))
    return out


def _cell(text: object) -> str:
    """Plain text for a Markdown table cell: pipes escaped, ``<``/``>`` as entities (help texts
    say ``runs/<name>``, which Markdown would take for an HTML tag), one line."""
    text = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("|", "\\|").replace("\n", " ")


def _flags(action: argparse.Action) -> str:
    if not action.option_strings:
        return f"`{action.metavar or action.dest}`"
    names = ", ".join(f"`{s}`" for s in action.option_strings)
    takes = action.nargs != 0 and not isinstance(action, argparse.BooleanOptionalAction)
    if takes:
        metavar = action.metavar or (action.dest.upper() if action.choices is None else
                                     "{" + ",".join(map(str, action.choices)) + "}")
        if isinstance(metavar, tuple):
            metavar = " ".join(metavar)
        names += f" `{metavar}`" + (" ..." if action.nargs in ("+", "*") else "")
    return names


def _default(action: argparse.Action) -> str:
    if action.required:
        return "required"
    if action.default in (None, argparse.SUPPRESS) or action.nargs == 0 and action.default is False:
        return ""
    return f"`{action.default}`"


def _help(action: argparse.Action) -> str:
    text = action.help or ""
    if text == argparse.SUPPRESS:
        return ""
    if action.choices is not None and not isinstance(action, argparse._SubParsersAction):
        text = (text + "; " if text else "") + "one of " + ", ".join(
            f"`{c}`" for c in action.choices)
    return _cell(text % {"default": action.default} if "%(default)" in text else text)


def _section(path: list[str], help_text: str, parser: argparse.ArgumentParser,
             depth: int) -> list[str]:
    name = " ".join(path)
    anchor = "-".join(path)
    lines = [f"{'#' * depth} `{name}` {{#{anchor}}}", ""]
    desc = parser.description or help_text
    if desc:
        lines += [_cell(desc), ""]
    usage = parser.format_usage().replace("usage: ", "", 1).strip()
    lines += ["```text", usage, "```", ""]
    for group in parser._action_groups:
        acts = [a for a in group._group_actions
                if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))
                and a.help != argparse.SUPPRESS]
        if not acts:
            continue
        title = group.title or "arguments"
        lines += [f"*{title}*", "", "| argument | default | meaning |", "| --- | --- | --- |"]
        lines += [f"| {_flags(a)} | {_default(a)} | {_help(a)} |" for a in acts]
        lines.append("")
    for sub_name, sub_help, sub in _subparsers(parser):
        lines += _section([*path, sub_name], sub_help, sub, min(depth + 1, 6))
    return lines


def render(root: Path) -> str:
    """The Markdown of the CLI page for the checkout at ``root``."""
    prog, parser = load_parser(root)
    lines = [
        "# Command line",
        "",
        f"Generated at build time from the argparse parser of `{prog}` (the console script of "
        "`pyproject.toml`), so it lists exactly the subcommands and options of this version. "
        f"`{prog} COMMAND --help` prints the same.",
        "",
        "Exit codes: 0 success, 1 a check or run failed (a diverged run included), 2 a usage or "
        "input error (one line on stderr naming the argument), 130 interrupted (the line says "
        "how to resume). Set `QOPT_TRACEBACK=1` to see the traceback of an input error.",
        "",
        "| command | what it does |",
        "| --- | --- |",
    ]
    subs = _subparsers(parser)
    lines += [f"| [`{prog} {n}`](#{prog}-{n}) | {_cell(h)} |" for n, h, _ in subs]
    lines.append("")
    for name, help_text, sub in subs:
        lines += _section([prog, name], help_text, sub, 2)
    return "\n".join(lines) + "\n"


def on_files(files: Files, config: Any, **kwargs: Any) -> Files:
    root = Path(config["config_file_path"]).resolve().parent
    files.append(File.generated(config, PAGE, content=render(root)))
    return files
