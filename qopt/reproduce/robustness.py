r"""Tuned arms and protocol variants of a staged training claim: verdicts that state their
protocol dependence.

**Tuned arms** (:func:`run_tuned`). Every arm of a :class:`~qopt.reproduce.staged.
StagedExperiment` gets the same search space (e.g. the quantized stage's lr over a stated
list): the same budget for every method (trials × epochs × tuning seeds). Tuning runs start
from the float model of their tuning seed (seeds 100, 101, ...: distinct from the scored seeds);
the trial with the best mean final VALIDATION accuracy (after BatchNorm re-estimation) over the
tuning seeds is selected, ties to the trial listed first, a trial with a failed run never
(:func:`qopt.study.tune._select`, the rule of studies' ``[tune]``). The selected settings then
run at the claim's seeds and are scored on test once. Nothing here reads a test number before
the selection.

**Variants** (:func:`headline`). The claim's rows are judged under the tuned protocol (the
headline) and under named variants (e.g. the untuned released lr, Adam, one scale per output
channel). When every variant's verdict agrees with the tuned one, the headline is that verdict;
when they disagree it is ``protocol-dependent``, naming the variants and their verdicts.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Sequence
from typing import Any

from qopt.reproduce.comparison import Comparison, family_verdict
from qopt.reproduce.staged import Arm, ExperimentRuns, StagedExperiment, run_experiment
from qopt.reproduce.verdict import INCONCLUSIVE, PROTOCOL_DEPENDENT, Verdict

__all__ = ["TUNE_SEED0", "headline", "run_tuned", "variant", "verdict_of"]

#: the first tuning seed (tuning seeds are TUNE_SEED0, TUNE_SEED0 + 1, ...)
TUNE_SEED0 = 100


def variant(exp: StagedExperiment, suffix: str, **base: Any) -> StagedExperiment:
    """``exp`` with its stage-2 ``base`` changed (same float stage, so the same parents)."""
    return dataclasses.replace(exp, name=f"{exp.name}-{suffix}", base={**exp.base, **base})


def run_tuned(exp: StagedExperiment, ctx: Any, space: dict[str, list], n_tune_seeds: int
              ) -> tuple[ExperimentRuns, list[dict]]:
    """Tune every arm of ``exp`` over ``space`` on validation (module docstring); returns the
    final runs of the selected settings at ``exp.seeds`` and, per arm, the tuning table
    (``keys``, ``trials`` with per-seed validation values, mean and interval, ``selected``)."""
    from qopt.study.stats import t_interval
    from qopt.study.tune import _select

    seeds = tuple(range(TUNE_SEED0, TUNE_SEED0 + n_tune_seeds))
    if set(seeds) & set(exp.seeds):
        raise ValueError(f"tuning seeds {seeds} overlap the scored seeds {exp.seeds}")
    keys = list(space)
    trials = [dict(zip(keys, c)) for c in itertools.product(*(space[k] for k in keys))]
    texp = dataclasses.replace(
        exp, name=f"{exp.name}-tune", seeds=seeds,
        arms=tuple(Arm({**a.keys, **t}, a.overrides) for a in exp.arms for t in trials))
    truns = run_experiment(texp, ctx)
    table, final_arms = [], []
    for a in exp.arms:
        rows = []
        for i, t in enumerate(trials):
            sel = truns.select(**a.keys, **t)
            vals = {s: float(r.result["final"]["val_acc"]) for s, r in sel.items()
                    if r.result["final"].get("val_acc") is not None}
            row: dict[str, Any] = {"trial": i, "values": t, "n": len(vals),
                                   "status": "done" if len(vals) == len(seeds) else "failed",
                                   "per_seed": {str(s): v for s, v in vals.items()}}
            if vals:
                iv = t_interval([vals[s] for s in sorted(vals)])
                row.update(mean=iv.mean, lo=iv.lo, hi=iv.hi)
            rows.append(row)
        chosen, why = _select(rows, True)
        table.append({"keys": dict(a.keys), "trials": rows, "selected": chosen, "why": why})
        if chosen is not None:
            final_arms.append(Arm({**a.keys, **chosen}, a.overrides))
    fexp = dataclasses.replace(exp, name=f"{exp.name}-tuned", arms=tuple(final_arms))
    runs = run_experiment(fexp, ctx) if final_arms else ExperimentRuns({}, [], {})
    runs.failed.update(truns.failed)
    return runs, table


def verdict_of(rows: Sequence[Comparison]) -> Verdict:
    """Family-wise verdict over the rows that have paired runs (inconclusive without any)."""
    usable = []
    for r in rows:
        try:
            r.interval()
            usable.append(r)
        except ValueError:
            continue
    if not any(r.kind != "describe" for r in usable):
        return Verdict(INCONCLUSIVE, "family-wise over the settings", "no setting has paired "
                       "runs")
    return family_verdict(usable)


def headline(tuned: Verdict, variants: Sequence[tuple[str, Verdict]],
             tuned_name: str = "tuned (selected on validation)") -> Verdict:
    """The claim's verdict: the tuned protocol's when every variant agrees, else
    ``protocol-dependent`` naming each protocol's verdict."""
    allv = [(tuned_name, tuned), *variants]
    smoke = any(v.smoke for _, v in allv)
    if all(v.status == tuned.status for _, v in variants):
        return Verdict(tuned.status, f"{tuned.rule}; the same verdict under every protocol "
                       f"variant ({', '.join(n for n, _ in variants)})", tuned.reason, smoke)
    named = "; ".join(f"{n}: {v.status}" for n, v in allv)
    return Verdict(PROTOCOL_DEPENDENT,
                   "the tuned protocol's verdict when every named protocol variant agrees, "
                   "'protocol-dependent' when they disagree", named, smoke)


def selection_lines(label: str, table: list[dict], fmt: Callable[[dict], str]) -> list[str]:
    """One line per arm: the selected values and the trials' validation means."""
    out = []
    for r in table:
        trials = ", ".join(
            f"{fmt(t['values'])}: {100 * t['mean']:.1f}" if "mean" in t else
            f"{fmt(t['values'])}: failed" for t in r["trials"])
        sel = fmt(r["selected"]) if r["selected"] else f"none ({r['why']})"
        out.append(f"{label} {' '.join(str(v) for v in r['keys'].values())}: selected {sel} "
                   f"(val. accuracy %, mean over tuning seeds: {trials})")
    return out
