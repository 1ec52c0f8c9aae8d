r"""Tuning inside a study: a stated search space, the same budget for every method, selection on
validation, one scoring on test.

A study with a ``[tune]`` table::

    [tune]
    seeds = [100, 101]              # tuning seeds: distinct from the study's seeds
    metric = "val_acc"              # optional (default): final validation accuracy
    [tune.space]                    # shared search space: field or method argument -> values
    lr = [0.3, 0.1, 0.03]
    [tune.methods.bcgd]             # per-method override (replaces or adds keys)
    lr = [0.1, 0.03, 0.01]

runs in two phases:

1. **Tuning.** For every arm (a grid cell without its seed; the parent method of a staged
   protocol is not tuned: its runs are the fixed starting points), every trial (one point of
   the Cartesian product of the arm's space, in file order) and every tuning seed, one run: the
   arm's config with the trial's values at that seed (a staged child starts from the parent run
   of the same tuning seed). Tuning runs are ordinary runs of the study (``runs/tune_<...>``):
   resumable, never recomputed; adding trials or seeds adds runs and keeps the finished ones.
2. **Selection and final runs.** Per arm, the trial with the best mean over the tuning seeds of
   the selection metric — ``val_acc``: the final validation accuracy after BatchNorm
   re-estimation (``result.json`` ``final.val_acc``), highest wins; ``val_loss``: lowest wins —
   is selected; **ties** (equal means) go to the trial listed first in the space. A trial with a
   failed run (e.g. diverged) cannot be selected; an arm whose trials are not all finished or
   failed has no selection yet (its final runs wait). The selected values then run at the
   study's seeds; those runs are scored on test, once. Nothing in the tuning phase reads a test
   number.

**Budget.** Every tuned method gets the same budget: the sum over its trials of
``epochs × number of tuning seeds``; a space that gives two methods different budgets is an
error at load time (naming them), so "more trials for my method" cannot slip in.

The per-trial table (mean and 95% t interval of the metric over the tuning seeds,
:func:`qopt.study.stats.t_interval`), the selection and the rule are written to
``results.json`` (``tune``) and printed by ``qopt study``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qopt.train.fields import ALIASES, METHODS

TUNE_KEYS = ("seeds", "space", "methods", "metric")
#: selection metric -> (key of result.json ``final``, higher is better)
TUNE_METRICS = {"val_acc": ("val_acc", True), "val_loss": ("val_loss", False)}
TIE_RULE = "ties (equal means) go to the trial listed first in the search space"


@dataclass(frozen=True)
class TuneSpec:
    """A parsed ``[tune]`` table (module docstring)."""

    seeds: tuple[int, ...]
    space: dict[str, list] = field(default_factory=dict)
    methods: dict[str, dict[str, list]] = field(default_factory=dict)
    metric: str = "val_acc"

    def space_for(self, method: str) -> dict[str, list]:
        """The search space of ``method``: the shared keys that apply to it (TrainConfig
        fields always; method arguments when the method takes them), then its override."""
        from qopt.train.config import config_fields
        from qopt.train.validation import method_arg_names

        fields = {f.name for f in config_fields()}
        accepted = set(method_arg_names(method))
        out = {k: v for k, v in self.space.items() if k in fields or k in accepted}
        out.update(self.methods.get(method, {}))
        return out

    def trials(self, method: str) -> list[dict[str, Any]]:
        """The trials of ``method``: the Cartesian product of its space in file order."""
        sp = self.space_for(method)
        keys = list(sp)
        return [dict(zip(keys, combo)) for combo in itertools.product(*(sp[k] for k in keys))]

    def to_dict(self) -> dict[str, Any]:
        return {"seeds": list(self.seeds), "space": self.space, "methods": self.methods,
                "metric": self.metric}


def parse_tune(tab: Any, grid: dict[str, list], base: dict[str, Any]) -> TuneSpec | None:
    """The :class:`TuneSpec` of a ``[tune]`` table (None when absent); ``ValueError`` naming
    the key for an unknown key, an empty or non-list space entry, a space key that is also a
    grid key or ``seed``, tuning seeds that overlap the study's seeds, or a bad metric."""
    if tab is None or tab == {}:
        return None
    if not isinstance(tab, dict):
        raise ValueError("[tune] must be a table")
    bad = sorted(set(tab) - set(TUNE_KEYS))
    if bad:
        raise ValueError(f"unknown [tune] keys {bad}; expected {list(TUNE_KEYS)}")
    seeds = tab.get("seeds")
    if not isinstance(seeds, list) or not seeds or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds) \
            or len(set(seeds)) != len(seeds):
        raise ValueError(f"[tune] seeds must be a non-empty list of distinct ints >= 0, got "
                         f"{seeds!r}")
    final = set(grid.get("seed", [base.get("seed", 0)]))
    both = sorted(final & set(seeds))
    if both:
        raise ValueError(f"[tune] seeds {both} are also the study's seeds: tuning seeds must "
                         "be distinct from the seeds the selected settings are scored at")
    metric = tab.get("metric", "val_acc")
    if metric not in TUNE_METRICS:
        raise ValueError(f"[tune] metric must be one of {sorted(TUNE_METRICS)}, got {metric!r}")

    def space(t: Any, where: str) -> dict[str, list]:
        if not isinstance(t, dict):
            raise ValueError(f"{where} must be a table of key = [values]")
        for k, v in t.items():
            if not isinstance(v, list) or not v:
                raise ValueError(f"{where} {k} must be a non-empty list of values, got {v!r}")
            if len({repr(x) for x in v}) != len(v):
                raise ValueError(f"{where} {k} lists a value twice: {v!r}")
            if k in ("seed", "method") or k in grid:
                raise ValueError(f"{where} {k}: {'a grid key' if k in grid else repr(k)} "
                                 "cannot be tuned (the grid names the arms; the seeds are "
                                 "[tune] seeds)")
        return dict(t)

    shared = space(tab.get("space", {}), "[tune.space]")
    per: dict[str, dict[str, list]] = {}
    for m, t in (tab.get("methods", {}) or {}).items():
        name = ALIASES.get(str(m).lower(), str(m).lower())
        if name not in METHODS:
            raise ValueError(f"[tune.methods.{m}]: unknown method; expected one of {METHODS}")
        per[name] = space(t, f"[tune.methods.{m}]")
    if not shared and not per:
        raise ValueError("[tune] needs a search space: [tune.space] and/or [tune.methods.M]")
    return TuneSpec(tuple(seeds), shared, per, metric)


def check_keys(spec: TuneSpec, methods_in_study: set[str]) -> None:
    """Every space key is a TrainConfig field or an argument of some tuned method."""
    from qopt.train.config import config_fields
    from qopt.train.validation import method_arg_names

    fields = {f.name for f in config_fields()}
    accepted = set().union(*(method_arg_names(m) for m in methods_in_study))
    for m, sp in [(None, spec.space), *spec.methods.items()]:
        where = "[tune.space]" if m is None else f"[tune.methods.{m}]"
        ok = accepted if m is None else set(method_arg_names(m))
        for k in sp:
            if k not in fields and k not in ok:
                raise ValueError(f"{where} {k}: neither a TrainConfig field nor an argument of "
                                 f"a tuned method ({sorted(methods_in_study)})")


def overrides(trial: dict[str, Any], cfg: Any) -> dict[str, Any]:
    """TrainConfig changes of ``trial`` on ``cfg``: fields directly, method arguments merged
    into ``method_args``."""
    from qopt.train.config import config_fields

    fields = {f.name for f in config_fields()}
    out = {k: v for k, v in trial.items() if k in fields}
    args = {k: v for k, v in trial.items() if k not in fields}
    if args:
        out["method_args"] = {**dict(out.get("method_args", cfg.method_args)), **args}
    return out


@dataclass(frozen=True)
class Arm:
    """One tuned (or fixed) arm: its grid values without the seed, the study's cells of it
    (one per seed) and its trials (empty for a fixed arm)."""

    label: str
    keys: dict
    cells: tuple
    trials: tuple


def arms(study: Any) -> list[Arm]:
    """The arms of a tuned study, in grid order."""
    from qopt.study.grid import run_id_of

    parent_m = study.protocol[0] if study.protocol else None
    out: dict[str, Arm] = {}
    for c in study.cells:
        keys = {k: v for k, v in c.keys.items() if k != "seed"}
        label = run_id_of(keys)
        tuned = c.config.method != parent_m
        if label not in out:
            out[label] = Arm(label, keys, (), tuple(study.tune.trials(c.config.method))
                             if tuned else ())
        a = out[label]
        out[label] = Arm(a.label, a.keys, (*a.cells, c), a.trials)
    return list(out.values())


def budgets(study: Any) -> dict[str, int]:
    """Tuning budget (epochs trained, summed over trials and tuning seeds) per tuned method;
    ``ValueError`` when they differ (module docstring)."""
    spec: TuneSpec = study.tune
    out: dict[str, int] = {}
    for a in arms(study):
        if not a.trials:
            continue
        cfg = a.cells[0].config
        b = sum(int(t.get("epochs", cfg.epochs)) for t in a.trials) * len(spec.seeds)
        m = cfg.method
        if out.setdefault(m, b) != b:
            raise ValueError(f"[tune]: arms of method {m!r} get different budgets ({out[m]} vs "
                             f"{b} epochs)")
    if len(set(out.values())) > 1:
        detail = ", ".join(f"{m} {b} epochs" for m, b in out.items())
        raise ValueError(f"[tune]: every method must get the same tuning budget (trials × "
                         f"epochs × {len(spec.seeds)} tuning seeds); got {detail}. Give the "
                         "methods search spaces of the same size")
    return out


def tuning_cells(study: Any) -> list[Any]:
    """Every tuning run (and the parent runs of a staged protocol at the tuning seeds), with
    its parent linked; validated."""
    from qopt.study.config import Cell
    from qopt.study.grid import run_id_of
    from qopt.study.protocol import link_parents

    spec: TuneSpec = study.tune
    cells: list[Any] = []
    seen: set[str] = set()
    for a in arms(study):
        cfg0 = a.cells[0].config
        if not a.trials:  # a fixed parent arm: its runs at the tuning seeds
            for s in spec.seeds:
                keys = {**a.keys, "seed": s}
                rid = run_id_of(keys)
                if rid not in seen:
                    seen.add(rid)
                    cells.append(Cell(rid, keys, cfg0.replace(seed=s).validate()))
            continue
        for t in a.trials:
            for s in spec.seeds:
                keys = {**a.keys, **t, "seed": s}
                rid = "tune_" + run_id_of(keys)
                try:
                    cfg = cfg0.replace(seed=s, **overrides(t, cfg0)).validate()
                except (ValueError, TypeError) as exc:
                    raise ValueError(f"[tune] trial {t} of {a.label}: {exc}") from exc
                cells.append(Cell(rid, keys, cfg))
    links = link_parents(cells, study.grid_keys, study.protocol, study.child_keys) \
        if study.protocol else {}
    return [Cell(c.run_id, c.keys, c.config, links.get(c.run_id)) for c in cells]


def trial_table(study: Any, out: Path, failed: dict[str, str] | None = None
                ) -> list[dict[str, Any]]:
    """Per arm: the trials with their metric per tuning seed, mean and 95% interval, their
    status, and the selection (or why there is none). Reads only ``final.<metric>`` of the
    tuning runs (validation), never a test number."""
    from qopt.study.grid import run_id_of
    from qopt.study.stats import t_interval
    from qopt.train.io import read_json

    spec: TuneSpec = study.tune
    key, higher = TUNE_METRICS[spec.metric]
    failed = failed or {}
    rows = []
    for a in arms(study):
        if not a.trials:
            continue
        trials = []
        for i, t in enumerate(a.trials):
            vals: dict[int, float] = {}
            status = "done"
            for s in spec.seeds:
                rid = "tune_" + run_id_of({**a.keys, **t, "seed": s})
                d = out / "runs" / rid
                if (d / "result.json").exists():
                    v = read_json(d / "result.json")["final"].get(key)
                    if v is None or not math.isfinite(v):
                        status = "failed"
                    else:
                        vals[s] = float(v)
                elif rid in failed or (d / "error.txt").exists():
                    status = "failed"
                elif status != "failed":
                    status = "pending"
            row: dict[str, Any] = {"trial": i, "values": dict(t), "status": status,
                                   "n": len(vals), "per_seed": {str(s): v
                                                                for s, v in vals.items()}}
            if vals:
                iv = t_interval([vals[s] for s in sorted(vals)])
                row.update(mean=iv.mean, lo=iv.lo, hi=iv.hi)
            trials.append(row)
        sel, why = _select(trials, higher)
        rows.append({"arm": a.label, "keys": {k: _plain(v) for k, v in a.keys.items()},
                     "method": a.cells[0].config.method, "metric": spec.metric,
                     "trials": trials, "selected": sel, "why": why})
    return rows


def _select(trials: list[dict], higher: bool) -> tuple[dict | None, str]:
    if any(t["status"] == "pending" for t in trials):
        n = sum(t["status"] == "pending" for t in trials)
        return None, f"tuning incomplete ({n} trial(s) not finished)"
    ok = [t for t in trials if t["status"] == "done"]
    if not ok:
        return None, "every trial failed"
    best = ok[0]
    for t in ok[1:]:  # strict improvement only: ties stay with the earlier trial
        if (t["mean"] > best["mean"]) if higher else (t["mean"] < best["mean"]):
            best = t
    return dict(best["values"]), f"trial {best['trial']}: best mean over the tuning seeds"


def _plain(v: Any) -> Any:
    return ",".join(f"{k}={x}" for k, x in v.items()) if isinstance(v, dict) else v


def final_cells(study: Any, table: list[dict], arm_of: dict[str, str] | None = None
                ) -> list[Any]:
    """The study's runs: parent arms as they are; every tuned arm with a selection at the
    study's seeds with the selected values (run ids name them); arms without one are left
    out. ``arm_of`` (filled when given): run id -> arm label of the tuned arms' runs."""
    from qopt.study.config import Cell
    from qopt.study.grid import run_id_of

    selected = {r["arm"]: r["selected"] for r in table}
    out = []
    for a in arms(study):
        if not a.trials:
            out += list(a.cells)
            continue
        sel = selected.get(a.label)
        if sel is None:
            continue
        for c in a.cells:
            keys = {**a.keys, **sel, "seed": c.keys.get("seed", c.config.seed)}
            cfg = c.config.replace(**overrides(sel, c.config)).validate()
            out.append(Cell(run_id_of(keys), keys, cfg, c.parent))
            if arm_of is not None:
                arm_of[out[-1].run_id] = a.label
    return out


def selection_text(table: list[dict], spec: TuneSpec, budget: dict[str, int]) -> str:
    """The printed selection: per arm the trials (mean [95% interval] of the metric over the
    tuning seeds) and the selected values."""
    what = {"val_acc": "final validation accuracy (%, BN re-estimated)",
            "val_loss": "final validation loss"}[spec.metric]
    pct = spec.metric == "val_acc"
    lines = [f"tuning: {what}, mean [95% t interval] over tuning seeds "
             f"{list(spec.seeds)}; selected = best mean ({TIE_RULE}); budget per method: "
             + ", ".join(f"{m} {b} epochs" for m, b in budget.items())]
    for r in table:
        sel = ", ".join(f"{k}={v}" for k, v in r["selected"].items()) if r["selected"] else \
            f"none ({r['why']})"
        lines.append(f"  {r['arm']}: selected {sel}")
        for t in r["trials"]:
            vals = ", ".join(f"{k}={v}" for k, v in t["values"].items())
            if "mean" in t:
                f = (lambda x: f"{100 * x:.1f}") if pct else (lambda x: f"{x:.4g}")
                lo = "-inf" if t["lo"] == -math.inf else f(t["lo"])
                hi = "inf" if t["hi"] == math.inf else f(t["hi"])
                num = f"{f(t['mean'])} [{lo}, {hi}] (n={t['n']})"
            else:
                num = "-"
            mark = " *" if r["selected"] == t["values"] else ""
            lines.append(f"    {vals}: {num} {t['status']}{mark}")
    return "\n".join(lines)
