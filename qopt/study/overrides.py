"""``qopt study --set KEY=VALUE``: edits of the study TOML before it is validated.

=================================  ==============================================================
``--set FIELD=V``                   every run gets V: ``[base].FIELD = V``, and FIELD is removed
                                    from every ``[methods.*]`` table; a ``[grid]`` key is an
                                    error (use ``--set grid.FIELD=[..]``: a single value would
                                    silently collapse the grid and rename every run)
``--set method_args={k=v, ..}``     every run whose method takes ``k`` gets ``k = v`` (routed per
``--set method_args.k=v``           method, see :mod:`qopt.study.grid`); ``k`` is removed from the
                                    grid's and the per-method tables' method arguments
``--set methods.M.KEY=V``           ``[methods.M].KEY = V`` (a TrainConfig field or an argument
                                    of method M, e.g. ``methods.bcgd.rho=0.01``)
``--set study.KEY=V`` (also         that table's entry (``grid.seed=[0,1]``, ``study.last_k=3``,
``base.``, ``grid.``, ``protocol.``, ``backend.slurm.qos=high``)
``backend.``)
=================================  ==============================================================

The edited study is what runs and what ``study.toml`` records, so a study directory always says
which settings produced it.
"""

from __future__ import annotations

import copy
from typing import Any

from qopt.suggest import did_you_mean
from qopt.train.config import config_fields
from qopt.train.fields import ALIASES
from qopt.train.options import field_value

TABLE_KEYS = ("study", "base", "grid", "methods", "protocol", "backend", "tune")


def apply_sets(study: dict[str, Any], sets: dict[str, Any]) -> dict[str, Any]:
    """A copy of the parsed study dict with the ``--set`` items applied (module docstring);
    ``ValueError`` naming an unknown key."""
    d = copy.deepcopy(study)
    names = {f.name for f in config_fields()}
    for key, value in sets.items():
        parts = key.split(".")
        head = parts[0]
        if head == "method_args":
            args = field_value("method_args", value) if len(parts) == 1 else {
                ".".join(parts[1:]): value}
            if not isinstance(args, dict):
                raise ValueError(f"--set {key}: expected a table of method arguments, got "
                                 f"{value!r}")
            _set_method_args(d, args)
        elif len(parts) == 1:
            if head not in names:
                raise ValueError(f"--set {key}: not a TrainConfig field (known: "
                                 f"{sorted(names)}); tables: {', '.join(TABLE_KEYS)}.KEY"
                                 f"{did_you_mean(head, [*names, *TABLE_KEYS])}")
            _set_everywhere(d, head, field_value(head, value))
        elif head in TABLE_KEYS:
            _set_path(d, parts, value if head != "base" else field_value(parts[-1], value))
        else:
            raise ValueError(f"--set {key}: unknown table {head!r}; expected a TrainConfig "
                             f"field or one of {', '.join(TABLE_KEYS)}")
    return d


def _set_everywhere(d: dict[str, Any], name: str, value: Any) -> None:
    grid = d.get("grid", {})
    if isinstance(grid, dict) and name in grid:
        shown = value if not isinstance(value, str) else f'"{value}"'
        raise ValueError(f"--set {name}={value}: {name!r} is a [grid] key of this study "
                         f"({name} = {grid[name]!r}); change its values with --set "
                         f"'grid.{name}=[{shown}]' (a TOML list of one or more values), or move "
                         f"{name} from [grid] to [base] in the study file")
    d.setdefault("base", {})[name] = value
    for tab in d.get("methods", {}).values():
        if isinstance(tab, dict):
            tab.pop(name, None)


def _set_method_args(d: dict[str, Any], args: dict[str, Any]) -> None:
    base = d.setdefault("base", {})
    base["method_args"] = {**base.get("method_args", {}), **args}
    grid_ma = d.get("grid", {}).get("method_args")
    if isinstance(grid_ma, list):
        d["grid"]["method_args"] = [{k: v for k, v in x.items() if k not in args}
                                    if isinstance(x, dict) else x for x in grid_ma]
    for tab in d.get("methods", {}).values():
        if isinstance(tab, dict):
            for k in args:
                tab.pop(k, None)
            if isinstance(tab.get("method_args"), dict):
                tab["method_args"] = {k: v for k, v in tab["method_args"].items()
                                      if k not in args}


def _set_path(d: dict[str, Any], parts: list[str], value: Any) -> None:
    node = d
    if parts[0] == "methods" and len(parts) >= 2:
        parts = [parts[0], ALIASES.get(parts[1], parts[1]), *parts[2:]]
    for p in parts[:-1]:
        nxt = node.setdefault(p, {})
        if not isinstance(nxt, dict):
            raise ValueError(f"--set {'.'.join(parts)}: {p!r} is not a table")
        node = nxt
    if parts[0] == "methods" and len(parts) == 3 and isinstance(node.get("method_args"), dict):
        node["method_args"].pop(parts[-1], None)  # the --set value replaces it
    node[parts[-1]] = value
