"""Run a study: every pending run in parallel worker processes, resumably, stages in order.

The study directory is the only state:

- a run whose ``runs/<id>/result.json`` exists is FINISHED: it is never rerun, its result is
  read back (``result.json`` is written last and atomically, so it is complete or absent);
- an unfinished run with a ``checkpoint.pt`` continues from its last completed epoch (the
  trainer's bit-exact resume), so a killed study continues where it stopped;
- before anything is written, every run directory is compared with the run the study asks
  for (:mod:`qopt.train.identity`): a directory made by a different configuration — the study
  file changed — stops the study with :class:`StudyConflict` naming the runs and fields, and
  every existing file stays untouched. A compatible change (more seeds, more methods) extends
  the study; the previous ``study.toml`` is kept as ``study.prev.toml``;
- staged protocols (:mod:`qopt.study.protocol`): a run starts when its parent has finished;
  the parent's run directory becomes its ``init_from``; a failed parent fails its children.

Workers are processes (``concurrent.futures.ProcessPoolExecutor``; forked on Linux, spawned
elsewhere or once CUDA is initialised), each with ``threads_per_worker`` torch threads, exiting
when the main process dies (:mod:`qopt.study.workers`). Each run is a pure function of its
config, so the results do not depend on the number of workers or the order runs finish in.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any, TextIO

from qopt.study.aggregate import summary_table, write_results
from qopt.study.config import Cell, Study
from qopt.study.toml_out import to_toml
from qopt.study.workers import init_worker, run_cell
from qopt.train.identity import RunConflict, config_diff
from qopt.train.io import atomic_write_text, read_json


class StudyConflict(ValueError):
    """The study directory holds runs of a different configuration."""


def _start_method() -> str:
    """``fork`` where available and safe (Linux, CUDA not initialised in this process: a
    forked child cannot use an inherited CUDA context) — much faster than re-importing torch in
    every worker; else ``spawn``."""
    import torch

    if "fork" in mp.get_all_start_methods() and sys.platform.startswith("linux") \
            and not torch.cuda.is_initialized():
        return "fork"
    return "spawn"


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


def _write_study_file(study: Study, out: Path) -> str | None:
    """Write ``study.toml``; keep a different previous one as ``study.prev.toml``."""
    text = to_toml(study.raw)
    path = out / "study.toml"
    note = None
    if path.exists():
        old = path.read_text(encoding="utf-8")
        if old != text:
            atomic_write_text(out / "study.prev.toml", old)
            note = "study.toml changed (every existing run is compatible): previous copy " \
                   "kept as study.prev.toml"
    atomic_write_text(path, text)
    return note


def run_study(study: Study, out_dir: str | Path | None = None, workers: int | None = None,
              max_runs: int | None = None, stream: TextIO | None = None) -> dict[str, Any]:
    """Run (or continue) ``study`` in ``out_dir``; returns a summary dict.

    Args:
        study: a validated study.
        out_dir: study directory (default ``./studies/<name>``).
        workers: parallel worker processes (default ``study.workers``).
        max_runs: start at most this many pending runs (then stop; rerun to continue); 0
            validates and rewrites the results files only.
        stream: where progress lines go (default stdout).

    Returns ``{"out_dir", "rows", "table", "n_runs", "n_done", "n_ran", "failed", "wall_s"}``;
    the results files and the table cover the FINISHED runs.

    Raises:
        StudyConflict: the directory holds runs of another configuration (nothing written).
    """
    out = Path(out_dir) if out_dir is not None else study.default_out_dir()
    stream = stream or sys.stdout
    if out.exists() and not out.is_dir():
        raise ValueError(f"study directory {str(out)!r} exists and is not a directory")
    if max_runs is not None and max_runs < 0:
        raise ValueError(f"max_runs must be >= 0, got {max_runs}")
    done, pending = plan(study, out)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    note = _write_study_file(study, out)
    if note:
        print(note, file=stream, flush=True)
    budget = len(pending) if max_runs is None else min(max_runs, len(pending))
    n_workers = max(1, min(workers or study.workers, budget or 1))
    staged = sum(c.parent is not None for c in study.cells)
    print(f"study {study.name}: {len(study.cells)} runs"
          f"{f' ({staged} start from a parent run)' if staged else ''}, {len(done)} finished, "
          f"{budget} to run on {n_workers} worker(s) -> {out}", file=stream, flush=True)
    t0 = time.perf_counter()
    failed = _execute(study, out, done, pending, budget, n_workers, stream) if budget else {}
    runs = []
    for c in study.cells:
        p = out / "runs" / c.run_id / "result.json"
        if p.exists():
            runs.append({"run_id": c.run_id, "keys": c.keys, "result": read_json(p)})
    rows = write_results(out, study.name, study.grid_keys, runs, study.last_k) if runs else []
    table = summary_table(study.grid_keys, rows, study.last_k) if rows else "(no finished runs)"
    return {"out_dir": str(out), "rows": rows, "table": table, "n_runs": len(study.cells),
            "n_done": len(runs), "n_ran": budget, "failed": failed,
            "wall_s": time.perf_counter() - t0}


def _warm_up(cells: list[Cell]) -> None:
    """Load, once in this process, the data sets of ``cells`` and torch's optimizer machinery:
    forked workers inherit them instead of each generating / reading the data (MNIST-1D: ~10 s
    of CPU per worker). Only with the ``fork`` start method."""
    import torch

    from qopt.data import load_data

    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    seen = set()
    for c in cells:
        cfg = c.config
        key = (cfg.dataset, cfg.data_dir, repr(sorted(cfg.dataset_args.items())))
        if key not in seen and cfg.dataset != "imagenet":
            seen.add(key)
            load_data(cfg.dataset, cfg.data_dir, **cfg.dataset_args)


def _execute(study: Study, out: Path, done: set[str], pending: list[Cell], budget: int,
             n_workers: int, stream: TextIO) -> dict[str, str]:
    """Run up to ``budget`` pending cells, parents before children; returns failures."""
    failed: dict[str, str] = {}
    waiting = list(pending)
    started = finished = 0
    method = _start_method()
    if method == "fork":
        _warm_up(pending)
    ctx = mp.get_context(method)
    with ProcessPoolExecutor(n_workers, mp_context=ctx, initializer=init_worker,
                             initargs=(study.threads_per_worker, os.getpid())) as pool:
        running: dict[Future, Cell] = {}

        def submit_ready() -> None:
            nonlocal started
            for cell in list(waiting):
                if started >= budget:
                    return
                if cell.parent is not None and cell.parent in failed:
                    waiting.remove(cell)
                    msg = _fail(cell, f"parent run {cell.parent} failed", out, failed)
                    print(f"  [-] {cell.run_id}: {msg}", file=stream, flush=True)
                    continue
                if cell.parent is not None and cell.parent not in done:
                    continue
                waiting.remove(cell)
                cfg = cell.config if cell.parent is None else cell.config.replace(
                    init_from=str(out / "runs" / cell.parent))
                running[pool.submit(run_cell, cfg.to_dict(), str(out / "runs" / cell.run_id))] \
                    = cell
                started += 1

        submit_ready()
        while running:
            finished_now, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for fut in finished_now:
                cell = running.pop(fut)
                finished += 1
                try:
                    res = fut.result()
                except Exception as exc:  # noqa: BLE001 - a worker died (OOM, signal)
                    res = {"error": f"worker process failed: {exc!r}", "time": 0.0}
                if "error" in res:
                    msg = _fail(cell, res["error"], out, failed)
                else:
                    done.add(cell.run_id)
                    msg = _result_line(res["result"])
                print(f"  [{finished}/{budget}] {cell.run_id}: {msg} ({res['time']:.1f} s)",
                      file=stream, flush=True)
            submit_ready()
    return failed


def _fail(cell: Cell, error: str, out: Path, failed: dict[str, str]) -> str:
    failed[cell.run_id] = error
    atomic_write_text(out / "runs" / cell.run_id / "error.txt", error.rstrip() + "\n")
    return "FAILED: " + error.strip().splitlines()[-1]


def _result_line(res: dict) -> str:
    fin = res["final"]
    acc = fin.get("test_acc")
    if acc is None:
        return f"test_loss={fin['test_loss']:.4g}"
    raw = res.get("final_raw", {}).get("test_acc")
    extra = f" (raw BN {100 * raw:.1f}%)" if fin.get("bn_recalibrated") and raw is not None \
        else ""
    return f"test_acc={100 * acc:.1f}%{extra}"


__all__ = ["RunConflict", "StudyConflict", "check_run_dir", "plan", "run_study"]
