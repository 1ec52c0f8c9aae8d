"""Run a study: every pending run on an execution backend, resumably, stages in order.

The study directory is the only state:

- a run whose ``runs/<id>/result.json`` exists is FINISHED: it is never rerun, its result is
  read back (``result.json`` is written last and atomically, so it is complete or absent)
  after its files are checked against its ``manifest.json`` (:mod:`qopt.train.manifest`): a
  damaged run (edited or truncated ``result.json``, changed or missing ``model.pt``, ...) is
  reported as failed with what is damaged, left untouched, and kept out of the results; its
  children fail like those of a failed parent;
- an unfinished run with a ``checkpoint.pt`` continues from its last completed epoch (the
  trainer's bit-exact resume), so a killed study continues where it stopped;
- a run whose directory lock (:class:`~qopt.train.lock.RunLock`) is held by a live process —
  another call of the same study, a SLURM job still running from an earlier call — is IN USE:
  neither started nor marked failed (a later call picks it up);
- before anything is written, every run directory is compared with the run the study asks
  for (:mod:`qopt.train.identity`): a directory made by a different configuration — the study
  file changed — stops the study with :class:`StudyConflict` naming the runs and fields, and
  every existing file stays untouched. A compatible change (more seeds, more methods) extends
  the study; the previous ``study.toml`` is kept as ``study.prev.toml``;
- staged protocols (:mod:`qopt.study.protocol`): a run starts when its parent has finished;
  the parent's run directory becomes its ``init_from``; a failed parent fails its children.

Where runs execute is the backend's business (:mod:`qopt.study.backends`: local worker
processes, SLURM jobs through submitit, Ray tasks); this module decides what runs, reports
progress and builds the results table, the same code for every backend. Each run is a pure
function of its config (trained with the study's ``threads_per_worker`` torch threads
everywhere), so the results do not depend on the backend, the number of workers or the order
runs finish in.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from qopt.study.aggregate import summary_table, write_results
from qopt.study.backends import Backend, BackendConfig, Outcome, RunSpec, make_backend
from qopt.study.config import Cell, Study
from qopt.study.toml_out import to_toml
from qopt.study.tune import TIE_RULE
from qopt.train.identity import RunConflict, config_diff
from qopt.train.io import atomic_write_text, read_json
from qopt.train.lock import LOCK_FILE, RunLock, RunLockedError
from qopt.train.manifest import RunDamaged, read_finished_run


class StudyConflict(ValueError):
    """The study directory holds runs of a different configuration."""


def run_dir_conflicts(cell: Cell, run_dir: Path) -> list[str]:
    """Differences between what ``run_dir`` holds and ``cell`` (empty: compatible or absent).

    A run of a staged protocol is compared without its ``init`` (the parent's weights are
    checked by :func:`_parent_conflicts` and by the trainer when it resumes)."""
    cfg_path = run_dir / "config.json"
    if not cfg_path.exists():
        return []
    try:
        old = read_json(cfg_path)
    except (OSError, ValueError) as exc:
        return [f"config.json unreadable ({exc})"]
    from qopt.train.record import run_record

    new = run_record(cell.config)
    if cell.parent is not None:
        new.pop("init", None)
        old = {k: v for k, v in old.items() if k != "init"}
    return config_diff(old, new)


def check_run_dir(cell: Cell, run_dir: Path) -> None:
    """``ValueError`` if ``run_dir`` holds a run of a DIFFERENT configuration."""
    diffs = run_dir_conflicts(cell, run_dir)
    if diffs:
        raise StudyConflict(f"run directory {str(run_dir)!r} was made by a different config: "
                            f"{'; '.join(diffs)}")


def _parent_conflicts(cell: Cell, out: Path) -> list[str]:
    """A child that recorded its parent's weights, whose finished parent now has others."""
    if cell.parent is None:
        return []
    cfg_path = out / "runs" / cell.run_id / "config.json"
    model = out / "runs" / cell.parent / "model.pt"
    if not cfg_path.exists() or not (out / "runs" / cell.parent / "result.json").exists():
        return []
    recorded = (read_json(cfg_path).get("init") or {}).get("sha256")
    from qopt.train.setup import file_sha256

    if recorded and model.exists() and file_sha256(model) != recorded:
        return [f"init weights (parent {cell.parent} model.pt changed since this run started)"]
    return []


def plan(study: Study, out: Path) -> tuple[set[str], list[Cell]]:
    """(finished run ids, pending cells); read-only. Raises :class:`StudyConflict` naming
    the conflicting runs and fields."""
    conflicts = []
    for cell in study.cells:
        d = out / "runs" / cell.run_id
        diffs = run_dir_conflicts(cell, d) + _parent_conflicts(cell, out)
        if diffs:
            conflicts.append(f"run {cell.run_id}: {'; '.join(diffs)}")
    if conflicts:
        more = f" (+{len(conflicts) - 3} more runs)" if len(conflicts) > 3 else ""
        raise StudyConflict(f"{str(out)!r} holds runs of a different configuration: "
                            f"{' | '.join(conflicts[:3])}{more}; use --out DIR (or another "
                            "[study] name) for a new study")
    done = {c.run_id for c in study.cells if (out / "runs" / c.run_id / "result.json").exists()}
    return done, [c for c in study.cells if c.run_id not in done]


def remove_stale_errors(out: Path, done: set[str]) -> None:
    """``error.txt`` of a run that has since finished (e.g. by ``qopt train`` on its
    directory, or a study killed between the result and the clean-up) is stale: removed."""
    for run_id in done:
        (out / "runs" / run_id / "error.txt").unlink(missing_ok=True)


def _write_study_file(study: Study, out: Path) -> str | None:
    """Write ``study.toml``; keep a different previous one as ``study.prev.toml``."""
    text = to_toml(study.raw)
    path = out / "study.toml"
    note = None
    if path.exists():
        old = path.read_text(encoding="utf-8")
        if old != text:
            atomic_write_text(out / "study.prev.toml", old)
            note = "study.toml changed: previous copy kept as study.prev.toml"
    atomic_write_text(path, text)
    return note


def runs_outside(study: Study, out: Path) -> list[str]:
    """Run directories under ``out/runs`` that are not cells of ``study`` (a changed grid list
    left them behind), sorted; they are reported and never touched."""
    runs = out / "runs"
    if not runs.is_dir():
        return []
    ids = {c.run_id for c in study.cells}
    return sorted(p.name for p in runs.iterdir() if p.is_dir() and p.name not in ids
                  and not p.name.startswith("."))


def reusable_runs(pending: list[Cell], out: Path, candidates: list[str]) -> dict[str, str]:
    """Pending cells whose identity (``config_hash``) equals a FINISHED run directory of
    ``out/runs`` under another id (``candidates``: the directories outside the study) -> that
    run id. Only cells without a directory of their own, and never a staged child (its
    ``init`` names its parent's path), are matched; a candidate's whole config must equal the
    cell's (:func:`qopt.train.identity.config_diff` empty), not only the hash. Returns
    {cell run id: finished run id}."""
    from qopt.train.record import run_record

    finished: dict[str, tuple[str, dict]] = {}
    for rid in candidates:
        d = out / "runs" / rid
        if not (d / "result.json").is_file() or not (d / "config.json").is_file():
            continue
        try:
            cfg = read_json(d / "config.json")
        except (OSError, ValueError):
            continue
        h = cfg.get("config_hash")
        if isinstance(h, str):
            finished.setdefault(h, (rid, cfg))
    out_map: dict[str, str] = {}
    used: set[str] = set()
    for cell in pending:
        if cell.parent is not None or (out / "runs" / cell.run_id).exists():
            continue
        rec = run_record(cell.config)
        hit = finished.get(rec.get("config_hash"))
        if hit is not None and hit[0] not in used and not config_diff(hit[1], rec):
            out_map[cell.run_id] = hit[0]
            used.add(hit[0])
    return out_map


def copy_run(src: Path, dst: Path) -> None:
    """Copy a finished run directory to ``dst`` atomically (:func:`qopt.io.atomic_copy_tree`),
    without its lock file; ``src`` is left as it is."""
    from qopt.io import atomic_copy_tree

    atomic_copy_tree(src, dst, ignore=(LOCK_FILE,))


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def progress_times(elapsed: float, finished: int, total: int) -> str:
    """``elapsed 2 min 10 s, ETA 6 min 30 s``: the ETA is the wall-clock time per finished run
    so far (which includes the parallelism of the workers) times the runs still to finish."""
    text = f"elapsed {_duration(elapsed)}"
    if 0 < finished < total:
        text += f", ETA {_duration(elapsed / finished * (total - finished))}"
    return text


def run_study(study: Study, out_dir: str | Path | None = None, workers: int | None = None,
              max_runs: int | None = None, stream: TextIO | None = None,
              backend: BackendConfig | None = None) -> dict[str, Any]:
    """Run (or continue) ``study`` in ``out_dir``; returns a summary dict.

    Args:
        study: a validated study.
        out_dir: study directory (default ``./studies/<name>``).
        workers: parallel worker processes of the local backend, and the default CPU count
            of an embedded Ray (default ``study.workers``).
        max_runs: start at most this many pending runs (then stop; rerun to continue); 0
            validates and rewrites the results files only.
        stream: where progress lines go (default stdout).
        backend: where the runs execute (default ``study.backend``: the study file's
            ``[backend]``, else local worker processes); :mod:`qopt.study.backends`.

    Returns ``{"out_dir", "rows", "table", "n_runs", "n_done", "n_ran", "failed", "in_use",
    "wall_s"}``; the results files and the table cover the FINISHED runs.

    Raises:
        StudyConflict: the directory holds runs of another configuration (nothing written).
        MissingExtra: the backend's optional dependency is not installed (nothing written).
        BackendError: the backend refused the runs (e.g. ``sbatch`` failed).
    """
    out = Path(out_dir) if out_dir is not None else study.default_out_dir()
    stream = stream or sys.stdout
    if out.exists() and not out.is_dir():
        raise ValueError(f"study directory {str(out)!r} exists and is not a directory")
    if max_runs is not None and max_runs < 0:
        raise ValueError(f"max_runs must be >= 0, got {max_runs}")
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    cfg = backend if backend is not None else study.backend
    t0 = time.perf_counter()
    if study.tune is not None:
        return _run_tuned(study, out, workers, max_runs, stream, cfg, t0)
    ph = _run_phase(study, list(study.cells), out, workers, max_runs, stream, cfg, "")
    runs = _finished(study.cells, out, ph["failed"], stream)
    rows = write_results(out, study.name, study.grid_keys, runs, study.last_k) if runs else []
    table = summary_table(study.grid_keys, rows, study.last_k) if rows else "(no finished runs)"
    return {"out_dir": str(out), "rows": rows, "table": table, "n_runs": len(study.cells),
            "n_done": len(runs), "n_ran": ph["n_ran"], "failed": ph["failed"],
            "in_use": ph["in_use"], "wall_s": time.perf_counter() - t0}


def _finished(cells: Any, out: Path, failed: dict[str, str], stream: TextIO) -> list[dict]:
    """The finished runs of ``cells``, each read through its manifest check
    (:func:`read_finished_run`); a damaged one is added to ``failed``, never reported."""
    from qopt.study.collapse import run_collapsed

    runs = []
    for c in cells:
        d = out / "runs" / c.run_id
        if c.run_id in failed or not (d / "result.json").exists():
            continue
        try:
            res = read_finished_run(d)
        except RunDamaged as exc:  # damaged after the check before running (e.g. meanwhile)
            print(f"  [!] {c.run_id}: {_fail(c.run_id, f'damaged: {exc}', out, failed)}",
                  file=stream, flush=True)
            continue
        runs.append({"run_id": c.run_id, "keys": c.keys, "result": res,
                     "collapsed": run_collapsed(d, res)})
    return runs


def _run_phase(study: Study, cells: list[Cell], out: Path, workers: int | None,
               max_runs: int | None, stream: TextIO, cfg: BackendConfig, what: str
               ) -> dict[str, Any]:
    """Plan and run ``cells`` (parents before children); writes ``study.toml`` first.
    Returns ``{"n_ran", "failed", "in_use", "done"}``."""
    import dataclasses

    sub = dataclasses.replace(study, cells=tuple(cells))
    done, pending = plan(sub, out)
    damaged = {rid: msg for rid in sorted(done)
               if (msg := finished_damage(out / "runs" / rid)) is not None}
    done -= set(damaged)
    # run directories left outside the study, and pending cells whose identity one of them
    # holds (reused, not retrained); a tuned study's phases are subsets: not checked there
    stale = runs_outside(study, out) if len(cells) == len(study.cells) else []
    reuse = reusable_runs(pending, out, stale)
    pending = [c for c in pending if c.run_id not in reuse]
    budget = len(pending) if max_runs is None else min(max_runs, len(pending))
    n_workers = max(1, min(workers or study.workers, budget or 1))
    engine = make_backend(cfg, out, study.name, n_workers, study.threads_per_worker,
                          [c.config for c in pending]) if budget else None
    (out / "runs").mkdir(parents=True, exist_ok=True)
    remove_stale_errors(out, done)
    note = _write_study_file(study, out)
    if note:
        print(note, file=stream, flush=True)
    if stale:
        shown = ", ".join(stale[:8]) + (f" (+{len(stale) - 8} more)" if len(stale) > 8 else "")
        print(f"{len(stale)} run director{'y' if len(stale) == 1 else 'ies'} in "
              f"{str(out / 'runs')!r} {'is' if len(stale) == 1 else 'are'} no longer part of "
              f"this study (left untouched; not in the results): {shown}", file=stream,
              flush=True)
    for rid, src in reuse.items():
        copy_run(out / "runs" / src, out / "runs" / rid)
        done.add(rid)
        print(f"  [=] {rid}: reused finished run {src} (same identity, config hash "
              f"{read_json(out / 'runs' / src / 'config.json').get('config_hash')}): copied, "
              "not retrained", file=stream, flush=True)
    staged = sum(c.parent is not None for c in cells)
    where = engine.describe() if engine is not None else f"{cfg.name} backend"
    print(f"study {study.name}{what}: {len(cells)} runs"
          f"{f' ({staged} start from a parent run)' if staged else ''}, {len(done)} finished, "
          f"{budget} to run on {where} -> {out}", file=stream, flush=True)
    failed: dict[str, str] = {}
    in_use: dict[str, str] = {}
    for rid, msg in damaged.items():
        print(f"  [!] {rid}: {_fail(rid, msg, out, failed)}", file=stream, flush=True)
    if engine is not None:
        failed, in_use = _execute(out, done, pending, budget, engine, study.threads_per_worker,
                                  stream, failed)
    return {"n_ran": budget, "failed": failed, "in_use": in_use, "done": done}


def _run_tuned(study: Study, out: Path, workers: int | None, max_runs: int | None,
               stream: TextIO, cfg: BackendConfig, t0: float) -> dict[str, Any]:
    """A study with ``[tune]`` (:mod:`qopt.study.tune`): the tuning runs (and every parent
    run), the selection on validation, then the selected settings at the study's seeds."""
    from qopt.study.tune import (
        budgets,
        final_cells,
        selection_text,
        trial_table,
        tuning_cells,
    )

    parents = [c for c in study.cells if study.protocol and c.config.method == study.protocol[0]]
    tcells = tuning_cells(study)
    ph1 = _run_phase(study, [*parents, *tcells], out, workers, max_runs, stream, cfg,
                     " (tuning on validation)")
    left = None if max_runs is None else max_runs - ph1["n_ran"]
    table = trial_table(study, out, ph1["failed"])
    arm_of: dict[str, str] = {}
    fcells = final_cells(study, table, arm_of)
    ph2 = _run_phase(study, fcells, out, workers, left, stream, cfg,
                     " (selected settings at the study's seeds)")
    table = trial_table(study, out, ph1["failed"])  # unchanged: phase 2 reads no tuning run
    runs = _finished(fcells, out, ph2["failed"], stream)
    budget = budgets(study)
    tune_json = {"spec": study.tune.to_dict(), "budget_epochs": budget,
                 "rule": "selected = the trial with the best mean of the metric over the tuning "
                         "seeds; a trial with a failed run is not eligible; " + TIE_RULE,
                 "arms": _with_test(table, runs, arm_of)}
    rows = write_results(out, study.name, study.grid_keys, runs, study.last_k,
                         extra={"tune": tune_json}) if runs else []
    text = summary_table(study.grid_keys, rows, study.last_k) if rows else "(no finished runs)"
    text = selection_text(table, study.tune, budget) + "\n\n" + text
    failed = {**ph1["failed"], **ph2["failed"]}
    return {"out_dir": str(out), "rows": rows, "table": text, "tune": tune_json,
            "n_runs": len(parents) + len(tcells) + len(fcells), "n_done": len(runs),
            "n_ran": ph1["n_ran"] + ph2["n_ran"], "failed": failed,
            "in_use": {**ph1["in_use"], **ph2["in_use"]}, "wall_s": time.perf_counter() - t0}


def _with_test(table: list[dict], runs: list[dict], arm_of: dict[str, str]) -> list[dict]:
    """The tuning table of each arm with the final TEST numbers of its selected settings at
    the study's seeds (mean and 95% interval), read after the selection was made."""
    from qopt.study.stats import t_interval

    out = []
    for r in table:
        accs = {x["keys"].get("seed"): x["result"]["final"].get("test_acc") for x in runs
                if arm_of.get(x["run_id"]) == r["arm"]}
        vals = [v for v in accs.values() if v is not None]
        test = None
        if vals:
            iv = t_interval(vals)
            test = {"test_acc_mean": iv.mean, "lo": iv.lo, "hi": iv.hi, "n": iv.n,
                    "per_seed": {str(s): v for s, v in accs.items()}}
        out.append({**r, "test": test})
    return out


#: how long (in all, per call) lock checks wait for a holder to let go: a process killed just
#: before this call (kill -9 of an earlier study and its workers) releases its lock only when
#: the kernel has torn it down, moments later
LOCK_GRACE_S = 3.0


def lock_holder(run_dir: Path, deadline: float = 0.0) -> str | None:
    """Who holds ``run_dir``'s lock (the :class:`RunLockedError` message), or None when it is
    free or absent, asking again every 0.1 s until ``deadline`` (``time.monotonic()``) while it
    is held. Taken and released at once; the run's own lock stays the authority (a run that
    becomes busy after this check reports ``in_use`` when it starts)."""
    if not (run_dir / LOCK_FILE).exists():
        return None
    while True:
        try:
            RunLock(run_dir).acquire().release()
            return None
        except RunLockedError as exc:
            if time.monotonic() >= deadline:
                return str(exc)
        time.sleep(0.1)


def finished_damage(run_dir: Path) -> str | None:
    """None when the finished run in ``run_dir`` is intact, else what is damaged."""
    try:
        read_finished_run(run_dir)
    except RunDamaged as exc:
        return f"damaged: {exc}"
    return None


def _execute(out: Path, done: set[str], pending: list[Cell], budget: int, engine: Backend,
             threads: int, stream: TextIO, failed: dict[str, str] | None = None
             ) -> tuple[dict[str, str], dict[str, str]]:
    """Run up to ``budget`` pending cells on ``engine``, parents before children; returns
    (failed, in use) run ids with their messages (``failed`` may start with the damaged
    finished runs: their children fail like those of a failed parent)."""
    failed = {} if failed is None else failed
    in_use: dict[str, str] = {}
    waiting = list(pending)
    started = finished = 0
    t_start = time.perf_counter()
    cwd = os.getcwd()
    grace: list[float | None] = [None]  # the lock checks' shared deadline (LOCK_GRACE_S)

    def say(line: str) -> None:
        print(line, file=stream, flush=True)

    def submit_ready() -> None:
        nonlocal started
        batch = []
        for cell in list(waiting):
            if started + len(batch) >= budget:
                break
            if cell.parent is not None and (cell.parent in failed or cell.parent in in_use):
                if cell.parent in failed:
                    waiting.remove(cell)
                    say(f"  [-] {cell.run_id}: "
                        f"{_fail(cell.run_id, f'parent run {cell.parent} failed', out, failed)}")
                continue
            if cell.parent is not None and cell.parent not in done:
                continue
            waiting.remove(cell)
            run_dir = out / "runs" / cell.run_id
            if grace[0] is None and (run_dir / LOCK_FILE).exists():
                grace[0] = time.monotonic() + LOCK_GRACE_S
            holder = lock_holder(run_dir, grace[0] or 0.0)
            if holder is not None:
                in_use[cell.run_id] = holder
                say(f"  [=] {cell.run_id}: in use, skipped: {holder}")
                continue
            cfg = cell.config if cell.parent is None else cell.config.replace(
                init_from=str(out / "runs" / cell.parent))
            batch.append(RunSpec(cell.run_id, cfg.to_dict(), str(run_dir), threads, cwd))
        if batch:
            engine.submit(batch)
            started += len(batch)

    with engine:
        submit_ready()
        while engine.running():
            for spec, oc in engine.wait():
                finished += 1
                result = out / "runs" / spec.run_id / "result.json"
                if oc.status == "done" and not result.exists():
                    oc = Outcome("failed", f"the run ended without writing {result}", oc.time_s)
                if oc.status == "done":
                    try:
                        msg = _result_line(read_finished_run(out / "runs" / spec.run_id),
                                           spec.run_id.startswith("tune_"))
                        done.add(spec.run_id)
                        (out / "runs" / spec.run_id / "error.txt").unlink(missing_ok=True)
                    except RunDamaged as exc:
                        msg = _fail(spec.run_id, f"damaged: {exc}", out, failed)
                elif oc.status == "in_use":
                    in_use[spec.run_id] = oc.message
                    msg = f"in use, skipped: {oc.message}"
                else:
                    msg = _fail(spec.run_id, oc.message, out, failed)
                say(f"  [{finished}/{budget}] {spec.run_id}: {msg} ({oc.time_s:.1f} s; "
                    f"{progress_times(time.perf_counter() - t_start, finished, budget)})")
            submit_ready()
    return failed, in_use


def _fail(run_id: str, error: str, out: Path, failed: dict[str, str]) -> str:
    failed[run_id] = error
    atomic_write_text(out / "runs" / run_id / "error.txt", error.rstrip() + "\n")
    return "FAILED: " + error.strip().splitlines()[-1]


def _result_line(res: dict, tuning: bool = False) -> str:
    """The progress line of a finished run: its test accuracy; for a tuning run its
    validation accuracy only (what the selection reads: the test numbers of tuning runs are
    never shown)."""
    fin = res["final"]
    if tuning:
        v = fin.get("val_acc")
        return f"val_acc={100 * v:.1f}%" if v is not None else f"val_loss={fin['val_loss']:.4g}"
    acc = fin.get("test_acc")
    if acc is None:
        return f"test_loss={fin['test_loss']:.4g}"
    raw = res.get("final_raw", {}).get("test_acc")
    extra = f" (raw BN {100 * raw:.1f}%)" if fin.get("bn_recalibrated") and raw is not None \
        else ""
    return f"test_acc={100 * acc:.1f}%{extra}"


__all__ = ["RunConflict", "StudyConflict", "check_run_dir", "plan", "progress_times",
           "reusable_runs", "run_study", "runs_outside"]
