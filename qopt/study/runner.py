"""Run a study: every pending grid cell in parallel worker processes, resumably.

Resumability (the study directory is the only state):

- a run whose ``runs/<id>/result.json`` exists is FINISHED: it is never rerun, its result is
  read back (``result.json`` is written last and atomically, so it is complete or absent);
- an unfinished run with a ``checkpoint.pt`` continues from its last completed epoch (the
  trainer's bit-exact resume), so a killed study continues where it stopped;
- a run directory made by a different configuration is an error (the study file changed):
  it is never silently mixed into the results.

Workers are processes (``concurrent.futures.ProcessPoolExecutor``; forked on Linux, spawned
elsewhere or once CUDA is initialised), each with
``threads_per_worker`` torch threads; each run is a pure function of its config, so the results
do not depend on the number of workers or on the order in which runs finish.
"""

from __future__ import annotations

import multiprocessing as mp
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any, TextIO

from qopt.study.aggregate import summary_table, write_results
from qopt.study.config import Cell, Study
from qopt.train.config import TrainConfig, config_diff
from qopt.train.io import atomic_write_text, read_json, to_json


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)


def _start_method() -> str:
    """``fork`` where available and safe (Linux, CUDA not initialised in this process: a
    forked child cannot use an inherited CUDA context) — much faster than re-importing torch in
    every worker; else ``spawn``."""
    import torch

    if "fork" in mp.get_all_start_methods() and sys.platform.startswith("linux") \
            and not torch.cuda.is_initialized():
        return "fork"
    return "spawn"


def _run_cell(cfg_dict: dict, run_dir: str) -> dict:
    """Worker entry point: train one run (resuming it if it has a checkpoint)."""
    from qopt.train.trainer import train

    t0 = time.perf_counter()
    try:
        res = train(TrainConfig.from_dict(cfg_dict), run_dir, resume=True, progress=False)
    except Exception:  # noqa: BLE001 - reported per run, the study goes on
        return {"error": traceback.format_exc(), "time": time.perf_counter() - t0}
    return {"result": res, "time": time.perf_counter() - t0}


def check_run_dir(cell: Cell, run_dir: Path) -> None:
    """``ValueError`` if ``run_dir`` holds a run of a DIFFERENT configuration."""
    cfg_path = run_dir / "config.json"
    if not cfg_path.exists():
        return
    diff = config_diff(read_json(cfg_path), cell.config.to_dict())
    if diff:
        raise ValueError(f"run directory {str(run_dir)!r} was made by a different config "
                         f"(fields {diff} differ); use another --out or delete it")


def run_study(study: Study, out_dir: str | Path | None = None, workers: int | None = None,
              max_runs: int | None = None, stream: TextIO | None = None) -> dict[str, Any]:
    """Run (or continue) ``study`` in ``out_dir``; returns a summary dict.

    Args:
        study: a validated study.
        out_dir: study directory (default ``./studies/<name>``).
        workers: parallel worker processes (default ``study.workers``).
        max_runs: start at most this many pending runs (then stop; rerun to continue).
        stream: where progress lines go (default stdout).

    Returns ``{"out_dir", "rows", "table", "n_runs", "n_done", "n_ran", "failed"}``;
    the results files and the table cover the FINISHED runs.
    """
    out = Path(out_dir) if out_dir is not None else study.default_out_dir()
    stream = stream or sys.stdout
    (out / "runs").mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "study.toml", _to_toml(study.raw))
    for cell in study.cells:
        check_run_dir(cell, out / "runs" / cell.run_id)
    done = {c.run_id for c in study.cells if (out / "runs" / c.run_id / "result.json").exists()}
    pending = [c for c in study.cells if c.run_id not in done]
    if max_runs is not None:
        pending = pending[:max_runs]
    n_workers = max(1, min(workers or study.workers, len(pending) or 1))
    print(f"study {study.name}: {len(study.cells)} runs, {len(done)} finished, "
          f"{len(pending)} to run on {n_workers} worker(s) -> {out}", file=stream, flush=True)
    failed: dict[str, str] = {}
    t0 = time.perf_counter()
    if pending:
        ctx = mp.get_context(_start_method())
        with ProcessPoolExecutor(n_workers, mp_context=ctx, initializer=_init_worker,
                                 initargs=(study.threads_per_worker,)) as pool:
            futs = {pool.submit(_run_cell, c.config.to_dict(), str(out / "runs" / c.run_id)): c
                    for c in pending}
            for k, fut in enumerate(as_completed(futs), 1):
                cell = futs[fut]
                try:
                    res = fut.result()
                except Exception as exc:  # noqa: BLE001 - a worker died (OOM, signal)
                    res = {"error": f"worker process failed: {exc!r}", "time": 0.0}
                if "error" in res:
                    failed[cell.run_id] = res["error"]
                    atomic_write_text(out / "runs" / cell.run_id / "error.txt", res["error"])
                    msg = "FAILED: " + res["error"].strip().splitlines()[-1]
                else:
                    fin = res["result"]["final"]
                    acc = fin.get("test_acc")
                    msg = (f"test_acc={100 * acc:.1f}%" if acc is not None
                           else f"test_loss={fin['test_loss']:.4g}")
                print(f"  [{k}/{len(pending)}] {cell.run_id}: {msg} ({res['time']:.1f} s)",
                      file=stream, flush=True)
    runs = []
    for c in study.cells:
        p = out / "runs" / c.run_id / "result.json"
        if p.exists():
            runs.append({"run_id": c.run_id, "keys": c.keys, "result": read_json(p)})
    rows = write_results(out, study.name, study.grid_keys, runs) if runs else []
    table = summary_table(study.grid_keys, rows) if rows else "(no finished runs)"
    return {"out_dir": str(out), "rows": rows, "table": table, "n_runs": len(study.cells),
            "n_done": len(runs), "n_ran": len(pending), "failed": failed,
            "wall_s": time.perf_counter() - t0}


def _to_toml(d: dict, prefix: str = "") -> str:
    """Minimal TOML writer for the study dict (tables of scalars, lists, inline tables)."""
    lines, subs = [], []
    for k, v in d.items():
        if isinstance(v, dict) and all(isinstance(x, dict) for x in v.values()) and v:
            subs.append((k, v))
        elif isinstance(v, dict) and prefix == "" :
            subs.append((k, v))
        else:
            lines.append(f"{k} = {_toml_value(v)}")
    text = "\n".join(lines) + ("\n" if lines else "")
    for k, v in subs:
        name = f"{prefix}{k}"
        inner = _to_toml(v, name + ".")
        text += f"\n[{name}]\n" + inner
    return text


def _toml_value(v: Any) -> str:
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if v is None:
        return '"none"'
    return to_json(v, indent=None)
