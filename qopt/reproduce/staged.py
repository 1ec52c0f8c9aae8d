"""Staged training experiments (the papers' protocol) run through :mod:`qopt.study`.

Stage 1 trains one float model per seed; stage 2 runs every arm (method × weight set, or STE ×
bits, ...) for every seed **starting from the float model of the same seed** (``init_from`` =
that run's directory), so all arms of a seed share their initialisation and are compared paired
by seed. Each stage is a :class:`qopt.study.Study` run by :func:`qopt.study.run_study`: stage 1
in ``OUT/studies/<mode>/float/<data>-<model>-<hash of its config>`` (shared by every experiment
with the same float configuration), stage 2 in ``OUT/studies/<mode>/<experiment>``. Finished
runs are never recomputed, a killed run resumes from its checkpoint, and a run directory made by
a different configuration is an error (never mixed into the results). A seed whose float run
failed is dropped from stage 2 (reported by the caller as a missing pair). Stage-2 configs carry
the absolute path of their float run (``init_from``): moving the output directory makes them
different runs.

Toolkit features used when present (feature-detected on :class:`~qopt.train.config.
TrainConfig`, so that the protocol runs on toolkits that lack them and the report says so):
``bn_recalib_batches`` (BatchNorm statistics re-estimated at the exactly quantized weights
before the final evaluation; the raw number in ``final_raw``).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qopt.reproduce.claim import Context

__all__ = ["Arm", "RunRecord", "StagedExperiment", "run_experiment", "supports"]


def supports(field_name: str) -> bool:
    """Whether this toolkit's TrainConfig has ``field_name``."""
    from qopt.train.config import TrainConfig

    return field_name in {f.name for f in dataclasses.fields(TrainConfig)}


@dataclass(frozen=True)
class Arm:
    """One arm of stage 2: ``keys`` (its grid values, e.g. ``{"method": "bcgd", "weights":
    "binary"}``; they name the runs) and ``overrides`` (TrainConfig fields on top of the stage's
    base; ``keys`` are applied too)."""

    keys: dict
    overrides: dict = field(default_factory=dict)


@dataclass(frozen=True)
class StagedExperiment:
    """A two-stage experiment (module docstring).

    Attributes:
        name: directory name under the mode's studies directory.
        description: one line for study.toml.
        float_config: TrainConfig fields of stage 1 (``seed`` is set per seed).
        base: TrainConfig fields shared by the stage-2 runs.
        arms: the stage-2 arms. seeds: the seeds.
        from_float: stage 2 starts from the float run of the same seed (False: from scratch,
            and stage 1 is not run).
    """

    name: str
    description: str
    float_config: dict
    base: dict
    arms: tuple[Arm, ...]
    seeds: tuple[int, ...]
    from_float: bool = True

    def to_dict(self) -> dict:
        return {"name": self.name, "float_config": self.float_config, "base": self.base,
                "arms": [{"keys": a.keys, "overrides": a.overrides} for a in self.arms],
                "seeds": list(self.seeds), "from_float": self.from_float}


@dataclass(frozen=True)
class RunRecord:
    """A finished run: its arm ``keys`` (``{"method": "float"}`` for stage 1), ``seed``, the
    ``result`` (result.json) and ``run_dir``."""

    keys: dict
    seed: int
    result: dict
    run_dir: Path


@dataclass
class ExperimentRuns:
    """All finished runs of an experiment and the failures (run id -> last error line)."""

    floats: dict[int, RunRecord]
    runs: list[RunRecord]
    failed: dict[str, str]

    def select(self, **keys: Any) -> dict[int, RunRecord]:
        """``{seed: record}`` of the stage-2 runs whose keys include ``keys``."""
        return {r.seed: r for r in self.runs
                if all(r.keys.get(k) == v for k, v in keys.items())}


def _study(name: str, desc: str, grid_keys: Sequence[str], cells: list, base: dict,
           grid: dict, threads: int) -> Any:
    from qopt.study import Study

    raw = {"study": {"name": name, "description": desc, "threads_per_worker": threads},
           "base": base, "grid": grid}
    return Study(name, tuple(grid_keys), tuple(cells), 1, threads, None, desc, raw)


def _cell(keys: dict, cfg: dict) -> Any:
    from qopt.study.config import Cell, run_id_of
    from qopt.train.config import TrainConfig

    return Cell(run_id_of(keys), dict(keys), TrainConfig.from_dict(cfg).validate())


def _collect_failures(summary: dict, failed: dict[str, str]) -> None:
    for rid, err in summary["failed"].items():
        failed[rid] = err.strip().splitlines()[-1] if err.strip() else "failed"


def prefork_warmup(configs: Sequence[dict]) -> None:
    """Load, once in this process, what every training worker would otherwise load itself:
    the data sets of ``configs`` (generated or read once, kept in :func:`qopt.data.load_data`'s
    per-process cache) and torch's optimizer machinery (``torch.optim`` imports
    ``torch._dynamo`` lazily on the first optimizer: seconds per process). The study runner
    forks its workers on Linux, so they inherit both; elsewhere this only costs the parent."""
    import torch

    from qopt.data import load_data

    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    seen = set()
    for c in configs:
        key = (c.get("dataset", "mnist1d"), c.get("data_dir"),
               json.dumps(c.get("dataset_args", {}), sort_keys=True))
        if key not in seen and key[0] != "imagenet":
            seen.add(key)
            load_data(key[0], key[1], **json.loads(key[2]))


def float_stage_dir(exp: StagedExperiment, ctx: Context) -> Path:
    """Where stage 1 lives: keyed by the float configuration, so experiments whose float models
    are identical (same data, model, optimizer, schedule) share them instead of retraining."""
    import hashlib

    from qopt.reproduce.store import canonical

    key = json.dumps(canonical(exp.float_config), sort_keys=True)
    h = hashlib.sha256(key.encode()).hexdigest()[:10]
    return (ctx.studies_dir / "float"
            / f"{exp.float_config.get('dataset')}-{exp.float_config.get('model')}-{h}")


def _float_stage(exp: StagedExperiment, ctx: Context, failed: dict[str, str]
                 ) -> dict[int, RunRecord]:
    from qopt.study import run_study
    from qopt.train.record import finished, read_result

    root = float_stage_dir(exp, ctx)
    cells = [_cell({"method": "float", "seed": s},
                   {**exp.float_config, "num_threads": ctx.threads, "method": "float",
                    "seed": s}) for s in exp.seeds]
    if not all(finished(root / "runs" / c.run_id) for c in cells):
        study = _study(f"float-{root.name}", "float models, one per seed (stage 1 of the "
                       "staged experiments that share this configuration)",
                       ("method", "seed"), cells, exp.float_config,
                       {"method": ["float"], "seed": list(exp.seeds)}, ctx.threads)
        ctx.log(f"[{exp.name}] stage 1: float models, {len(exp.seeds)} seed(s) -> {root}")
        _collect_failures(run_study(study, root, workers=ctx.workers, stream=ctx.out),
                          failed)
    out = {}
    for c in cells:
        p = root / "runs" / c.run_id
        if finished(p):
            out[c.keys["seed"]] = RunRecord(c.keys, c.keys["seed"], read_result(p), p)
    return out


def run_experiment(exp: StagedExperiment, ctx: Context) -> ExperimentRuns:
    """Run (or continue) both stages of ``exp``; return the finished runs. Stage 1 is skipped
    when stage 2 starts from scratch."""
    from qopt.study import run_study
    from qopt.train.record import finished, read_result

    root = ctx.studies_dir / exp.name
    failed: dict[str, str] = {}
    prefork_warmup([exp.float_config, exp.base])
    floats = _float_stage(exp, ctx, failed) if exp.from_float else {}
    cells = []
    for s in exp.seeds:
        if exp.from_float and s not in floats:
            continue
        for arm in exp.arms:
            cfg = {**exp.base, **arm.overrides, **arm.keys, "num_threads": ctx.threads,
                   "seed": s}
            if exp.from_float:
                cfg["init_from"] = str(floats[s].run_dir.resolve())
            cells.append(_cell({**arm.keys, "seed": s}, cfg))
    records: list[RunRecord] = []
    if cells:
        grid_keys = (*exp.arms[0].keys, "seed")
        grid = {k: sorted({str(a.keys[k]) for a in exp.arms}) for k in exp.arms[0].keys}
        how = ("from the float run of the same seed in " + str(float_stage_dir(exp, ctx))
               if exp.from_float else "from scratch")
        study = _study(exp.name, f"{exp.description} (stage 2, {how})", grid_keys, cells,
                       exp.base, {**grid, "seed": list(exp.seeds)}, ctx.threads)
        ctx.log(f"[{exp.name}] stage 2: {len(cells)} run(s), {how.split(' in ')[0]}")
        _collect_failures(run_study(study, root, workers=ctx.workers, stream=ctx.out),
                          failed)
        for c in cells:
            p = root / "runs" / c.run_id
            if finished(p):
                keys = {k: v for k, v in c.keys.items() if k != "seed"}
                records.append(RunRecord(keys, c.keys["seed"], read_result(p), p))
    return ExperimentRuns(floats, records, failed)
