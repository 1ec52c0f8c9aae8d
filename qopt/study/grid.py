r"""Grid expansion: from ``[base]``, ``[grid]`` and ``[methods.*]`` to one resolved config per
run, with every conflict an error and run ids that show the values actually used.

Per grid cell (the Cartesian product of the ``[grid]`` lists, in file order):

1. the cell's method M (grid value, else ``[base]``, else ``float``) selects ``[methods.M]``;
   a per-method table holds TrainConfig fields and M's arguments (``rho = 0.01`` is short for
   ``method_args = {rho = 0.01}``);
2. the run's config is ``[base]``, then ``[methods.M]``, then the grid values. The same field
   in ``[grid]`` and in ``[base]`` or ``[methods.M]`` is an error (never a silent override);
   so is the same method argument in two places;
3. ``method_args`` from ``[base]`` and ``[grid]`` are **routed**: each run receives the
   arguments its method accepts (``rho`` goes to BCGD runs, ``lam0`` to BinaryRelax runs); an
   argument that no method of the study accepts is an error. This is what lets a study-wide
   ``method_args = {rho = 0.01}`` (or ``--set``) coexist with float runs;
4. ``float`` runs have no weight set, axis or method arguments: those are dropped (the grid
   values shown for the run become none), and cells that resolve to the same config are one run.

The run id is built from the grid keys' *effective* values (``bcgd_binary_rho0.01_seed0``);
an empty ``method_args`` adds nothing.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from qopt.suggest import did_you_mean
from qopt.train.config import TrainConfig, config_fields
from qopt.train.fields import ALIASES, METHODS

FLOAT_DROPS = ("weights", "axis", "group_size")


def normalise_methods(methods: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{method: table}`` with aliases resolved and method arguments written directly in the
    table moved into its ``method_args`` (the same argument in both is an error)."""
    from qopt.train.validation import method_arg_names

    fields = {f.name for f in config_fields()}
    out: dict[str, dict[str, Any]] = {}
    for m, tab in methods.items():
        name = ALIASES.get(str(m).lower(), str(m).lower())
        if name not in METHODS:
            raise ValueError(f"[methods.{m}]: unknown method; expected one of {METHODS}"
                             f"{did_you_mean(name, METHODS)}")
        if not isinstance(tab, dict):
            raise ValueError(f"[methods.{m}] must be a table")
        if name in out:
            raise ValueError(f"[methods.{m}]: method {name!r} has two tables")
        accepted = set(method_arg_names(name))
        t = dict(tab)
        ma = dict(t.pop("method_args", {}) or {})
        if not isinstance(ma, dict):
            raise ValueError(f"[methods.{m}] method_args must be a table")
        for k in list(t):
            if k in fields:
                continue
            if k not in accepted:
                raise ValueError(f"[methods.{m}] {k}: neither a TrainConfig field nor an "
                                 f"argument of {name!r} (accepted: {sorted(accepted)})")
            if k in ma:
                raise ValueError(f"[methods.{m}] {k} given twice (directly and in "
                                 "method_args)")
            ma[k] = t.pop(k)
        if ma:
            t["method_args"] = ma
        out[name] = t
    return out


def _method_of(vals: dict[str, Any], base: dict[str, Any]) -> Any:
    m = vals.get("method", base.get("method", "float"))
    return ALIASES.get(m.lower(), m.lower()) if isinstance(m, str) else m


def _routed(args: Any, accepted: set[str], where: str) -> dict[str, Any]:
    if args is None:
        return {}
    if not isinstance(args, dict):
        raise ValueError(f"{where} method_args must be a table, got {args!r}")
    return {k: v for k, v in args.items() if k in accepted}


def check_routing(base: dict[str, Any], grid: dict[str, list], methods_in_study: set[str]
                  ) -> None:
    """Every method argument of ``[base]`` / ``[grid]`` is accepted by some method of the
    study (else it would silently apply to nothing)."""
    from qopt.train.validation import method_arg_names

    accepted = set().union(*(method_arg_names(m) for m in methods_in_study if m in METHODS))
    given = [("[base]", base.get("method_args"))]
    given += [("[grid]", x) for x in grid.get("method_args", [])]
    for where, args in given:
        if isinstance(args, dict):
            bad = sorted(set(args) - accepted)
            if bad:
                raise ValueError(f"{where} method_args {bad}: no method of this study "
                                 f"({sorted(methods_in_study)}) accepts them")


def resolve_cell(vals: dict[str, Any], base: dict[str, Any],
                 methods: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(config dict, effective grid values) of one grid cell (module docstring)."""
    from qopt.train.validation import method_arg_names

    method = _method_of(vals, base)
    table = methods.get(method, {}) if isinstance(method, str) else {}
    for k in vals:
        if k == "method_args" and isinstance(base.get(k), dict) and isinstance(vals[k], dict):
            twice = sorted(set(base[k]) & set(vals[k]))
            if twice:
                raise ValueError(f"method argument(s) {twice} given in both [base] and "
                                 "[grid]; keep one")
        elif k in base:
            raise ValueError(f"{k!r} is given in both [base] and [grid]; keep one")
        if k in table and k != "method_args":
            raise ValueError(f"{k!r} is given in both [grid] and [methods.{method}]; keep one")
    accepted = set(method_arg_names(method)) if method in METHODS else set()
    tab_ma = dict(table.get("method_args", {}))
    grid_ma = _routed(vals.get("method_args"), accepted, "[grid]")
    twice = sorted(set(grid_ma) & set(tab_ma))
    if twice:
        raise ValueError(f"method argument(s) {twice} given in both [grid] and "
                         f"[methods.{method}]; keep one")
    base_ma = {k: v for k, v in _routed(base.get("method_args"), accepted, "[base]").items()
               if k not in tab_ma and k not in grid_ma}
    merged = {**base, **table, **vals, "method": method,
              "method_args": {**base_ma, **tab_ma, **grid_ma}}
    eff = dict(vals)
    if "method" in eff:
        eff["method"] = method
    if "method_args" in eff:
        eff["method_args"] = grid_ma
    if method == "float":
        for k in FLOAT_DROPS:
            merged[k] = None
            if k in eff:
                eff[k] = None
        merged["method_args"] = {}
    return merged, eff


def _slug(v: Any) -> str:
    s = "none" if v is None else str(v).lower()
    return re.sub(r"[^a-z0-9.+-]+", "", s.replace(":", "").replace(",", "-"))[:40] or "x"


def run_id_of(keys: dict[str, Any]) -> str:
    """Readable run id from the effective grid values, e.g. ``bcgd_ternary_seed1``,
    ``bcgd_binary_rho0.01_seed0``, ``lr0.1_seed0``."""
    plain = ("method", "weights", "dataset", "model")
    parts = []
    for k, v in keys.items():
        if k in plain:
            parts.append(_slug(v))
        elif isinstance(v, dict):
            parts += [f"{_slug(a.replace('_', ''))}{_slug(x)}" for a, x in v.items()]
        else:
            parts.append(f"{_slug(k.replace('_', ''))}{_slug(v)}")
    return "_".join(parts) or "run"


def expand(base: dict[str, Any], grid: dict[str, list], methods: dict[str, dict[str, Any]],
           parent: str | None = None, child_only: tuple[str, ...] = ()
           ) -> list[tuple[str, dict[str, Any], TrainConfig]]:
    """``[(run_id, effective grid values, validated config)]`` in grid order, duplicates
    (cells resolving to the same config) removed. Runs of method ``parent`` do not take the
    grid keys ``child_only`` (a staged protocol's ``child_keys``,
    :mod:`qopt.study.protocol`): their cells collapse to one parent per remaining value."""
    keys = tuple(grid)
    in_study = {_method_of(dict(zip(keys, combo)), base)
                for combo in itertools.product(*(grid[k] for k in keys))}
    check_routing(base, grid, {m for m in in_study if isinstance(m, str)})
    out: dict[str, tuple[str, dict[str, Any], TrainConfig]] = {}
    seen: dict[str, str] = {}
    for combo in itertools.product(*(grid[k] for k in keys)):
        vals = dict(zip(keys, combo))
        if child_only and _method_of(vals, base) == parent:
            vals = {k: v for k, v in vals.items() if k not in child_only}
        try:
            merged, eff = resolve_cell(vals, base, methods)
            cfg = TrainConfig.from_dict(merged).validate()
        except (ValueError, TypeError) as exc:
            raise ValueError(f"grid cell {vals}: {exc}") from exc
        key = repr(sorted(cfg.to_dict().items()))
        if key in seen:
            continue
        rid = run_id_of(eff)
        if rid in out:
            rid = f"{rid}_{len(out)}"
        seen[key] = rid
        out[rid] = (rid, eff, cfg)
    return list(out.values())
