"""Command-line options generated from :class:`~qopt.train.config.TrainConfig`'s field metadata.

One source: every field becomes ``--field-name VALUE`` in its help group, with its one-line
description, default and choices; the same parser turns a string into the field's kind
(``key=value,...`` or a TOML inline table for tables, ``a,b`` or ``[a, b]`` for lists, bare
``--flag`` / ``--flag false`` for booleans, ``none`` for nullable fields). No torch import:
``qopt train --help`` is built from this module, :mod:`qopt.train.config` and the engine's
torch-free method registry.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from qopt.train.config import config_fields
from qopt.train.fields import GROUPS, format_default, help_line
from qopt.train.values import parse_list, parse_table, parse_value

_GROUP_TITLES = {
    "data": "data", "model": "model", "quantization": "weight quantization",
    "activations": "activation quantization (QuantReLU)", "optimisation": "optimisation",
    "evaluation": "evaluation", "execution": "execution (not part of a run's identity, "
    "except seed and amp)",
}
_FIELDS = {f.name: f for f in config_fields()}


def field_value(name: str, value: Any) -> Any:
    """Convert a command-line value (string, or already a TOML literal) for field ``name``."""
    f = _FIELDS.get(name)
    if f is None or not isinstance(value, str):
        return value
    kind, text = f.metadata["kind"], value.strip()
    if f.metadata.get("nullable") and text.lower() in ("none", "null", ""):
        return None
    if kind == "dict":
        return parse_table(text, f"{name} (--{name.replace('_', '-')})")
    if kind == "list":
        return parse_list(text)
    if kind == "bool":
        low = text.lower()
        if low in ("true", "yes", "on", "1"):
            return True
        if low in ("false", "no", "off", "0"):
            return False
        return text  # validate() names the field and the bad value
    return parse_value(text)


def add_config_arguments(parser: argparse.ArgumentParser, dest_prefix: str = "cfg_") -> None:
    """One option per TrainConfig field, grouped as in ``qopt train --help``."""
    groups = {g: parser.add_argument_group(f"config: {_GROUP_TITLES[g]}") for g in GROUPS}
    for f in config_fields():
        m = f.metadata
        flag = "--" + f.name.replace("_", "-")
        kw: dict[str, Any] = {"dest": dest_prefix + f.name, "default": None,
                              "help": help_line(f).replace("%", "%%")}
        if m["kind"] == "bool":
            kw.update(nargs="?", const="true", metavar="BOOL")
        else:
            kw["metavar"] = {"dict": "K=V,..", "list": "A,B,..", "int": "INT",
                             "float": "FLOAT"}.get(m["kind"], "STR")
        groups[m["group"]].add_argument(flag, **kw)


def config_overrides(args: argparse.Namespace, dest_prefix: str = "cfg_") -> dict[str, Any]:
    """The fields given on the command line, converted (:func:`field_value`)."""
    out = {}
    for k, v in vars(args).items():
        if k.startswith(dest_prefix) and v is not None:
            name = k[len(dest_prefix):]
            out[name] = field_value(name, v)
    return out


def method_args_help() -> str:
    """Epilog listing each method's arguments with defaults (from the engine's registry)."""
    from qopt.train.fields import METHODS
    from qopt.train.methods import method_arg_fields

    lines = ["method arguments (--method-args K=V,.. or [method_args] in TOML):"]
    for m in METHODS:
        try:
            fields = method_arg_fields(m)
        except ImportError:  # pragma: no cover - engine missing
            fields = []
        if not fields:
            lines.append(f"  {m}: none")
            continue
        items = []
        for name, _typ, default, text in fields:
            d = format_default(default) if default is not dataclasses.MISSING else "required"
            items.append(f"{name}={d}" + (f" ({text})" if text else ""))
        import textwrap

        lines += textwrap.wrap(f"{m}: " + "; ".join(items), width=96, initial_indent="  ",
                               subsequent_indent="    ")
    return "\n".join(lines)


def fields_epilog() -> str:
    """Every field with its default and choices, grouped (``qopt study --help``'s list of what
    ``--set FIELD=V`` and ``[base]``/``[grid]`` accept)."""
    import textwrap

    lines = ["TrainConfig fields (for --set FIELD=V, [base], [grid], [methods.*]):"]
    for g in GROUPS:
        items = []
        for f in config_fields():
            if f.metadata["group"] != g:
                continue
            d = f.default_factory() if f.default_factory is not dataclasses.MISSING \
                else f.default
            ch = f.metadata.get("choices")
            items.append(f"{f.name}={format_default(d)}" + (f" ({'|'.join(map(str, ch))})"
                                                            if ch else ""))
        lines += textwrap.wrap(f"{_GROUP_TITLES[g].split(' (')[0]}: " + ", ".join(items),
                               width=96, initial_indent="  ", subsequent_indent="    ")
    return "\n".join(lines)


def fields_table() -> str:
    """Markdown table of every field (name, default, choices, help) for the README."""
    rows = ["| field | default | choices | meaning |", "|---|---|---|---|"]
    for f in config_fields():
        m = f.metadata
        d = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        ch = ", ".join(map(str, m["choices"])) if m.get("choices") else ""
        rows.append(f"| `{f.name}` | `{format_default(d)}` | {ch} | {m['help']} |")
    return "\n".join(rows)
