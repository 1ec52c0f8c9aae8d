"""The benchmark suite behind ``qopt bench``: run every section, write BENCHMARKS.md and .json.

Sections (each a module with ``run(quick: bool, progress=None) -> list[dict]``, one dict per
table row; ``progress`` is a :class:`benchmarks.progress.SectionProgress` through which the
section announces its units of work and hands over each unit's rows as it finishes):

==================  ===========================  ===============================================
section             module                       measures
==================  ===========================  ===============================================
``projection``      benchmarks.projection        each exact projection vs its floor (one
                                                 elementwise pass; a sort for sort-based
                                                 algorithms), 1e4..1e7 elements
``optimizer_step``  benchmarks.optimizer_step    QuantOptimizer step overhead vs the bare
                                                 optimizer, and vs torchao's QuantOptimizer
``throughput``      benchmarks.throughput        training samples/s, float vs quantized, MLP
                                                 and ResNet-20 at CIFAR size
==================  ===========================  ===============================================

Also ``group_projection`` (benchmarks.group_projection): the exact projection with
``group_size=128`` against one sort of the same array, 1e5..1e7 elements (issue 21 item 7).

A section that fails (or whose module is missing from this build) is recorded with its error and
the others still run. Results are kept **per device kind** (``cpu``, ``cuda``): writing the CPU
results replaces only the CPU block of BENCHMARKS.md (between ``<!-- bench:cpu -->`` markers) and
the ``"cpu"`` entry of the JSON, so CPU and GPU numbers live side by side in one file. Within a
device kind, sections are merged: a run with ``only=[...]`` replaces those sections and keeps the
others from the previous JSON (each section carries its own date, load average and machine).
Both files are written atomically (:mod:`qopt.io`).

**Never silent, never lost.** :func:`run_suite` tells a :class:`Reporter` when a section starts,
how many units it has, when each unit finishes and when the section ends, and hands the results
so far to ``checkpoint`` after every section (``qopt bench`` writes both files there), so an
interrupted run keeps every finished section. A section interrupted mid-way (Ctrl-C, or SIGTERM,
which ``qopt bench`` turns into the same) is recorded under ``"interrupted"`` with the rows its
finished units reported — beside, never instead of, the last complete run of that section.

**Smoke runs never replace measurements.** A quick (smoke) result must not overwrite a measured
(non-quick) section: :func:`write_results` raises :class:`MeasuredResultsError` instead, and
:func:`measured_sections` lets the CLI refuse before running anything.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from benchmarks.markdown import markdown_block, merge_markdown, table
from benchmarks.progress import SectionProgress
from benchmarks.timing import machine_info

__all__ = ["SECTIONS", "LogReporter", "MeasuredResultsError", "Reporter", "device_kind",
           "markdown_block", "measured_sections", "merge_markdown", "run_suite", "table",
           "write_results"]

#: name -> (module, title, what the ratio columns mean)
SECTIONS: dict[str, tuple[str, str, str]] = {
    "projection": (
        "benchmarks.projection", "Exact projection vs its floor",
        "Cold-start `qopt.project` (float32, one scale per tensor, no warm start) divided by "
        "its floors on the same array, timed round-robin: one elementwise pass (`w.abs()`) and "
        "one value sort; `ratio` is against the floor of the issue-14 target (binary: 3 passes; "
        "ternary: 1.5 sorts; uniform:3..8 and symmetric: 3 sorts, at 1e6-1e7)."),
    "group_projection": (
        "benchmarks.group_projection", "Group-wise projection vs one sort",
        "Cold-start `qopt.project(w, qset, group_size=128)` on float32 Gaussian weights "
        "(one scale per block of 128) divided by one value sort of the same array, timed "
        "round-robin; issue-21 target: ratio <= 2 at 1e7 (`met`)."),
    "optimizer_step": (
        "benchmarks.optimizer_step", "Optimizer-step overhead",
        "Time of one QuantOptimizer step (projection + method update + base step) divided by "
        "the bare base optimizer's step on the same parameters, and compared with torchao's "
        "PARQ QuantOptimizer where torchao is installed."),
    "training_step": (
        "benchmarks.training_step", "Training step: MLP with AdamW",
        "Whole training step (zero_grad, forward, backward, step) of the MLP 784-1024-1024-10 "
        "with AdamW: qopt BinaryRelax (projections batched per group, warm-started, "
        "`cert_held` = warm-start certificates held) and torchao PARQ (quant_period 10 and 1) "
        "divided by the float step; "
        "targets 1.25x at 2 bits, 1.5x at 4 bits."),
    "throughput": (
        "benchmarks.throughput", "Training throughput",
        "Samples/s of a full training step (forward, backward, optimizer) on a synthetic "
        "CIFAR-sized batch; rel_float = float step time / variant step time (1 = no cost)."),
}

def device_kind() -> str:
    """``"cuda"`` when a CUDA device is visible, else ``"cpu"``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class MeasuredResultsError(ValueError):
    """A quick (smoke) result would replace a measured section of a results file."""


class Reporter(Protocol):
    """What :func:`run_suite` reports while it runs (see :class:`LogReporter`)."""

    def section_start(self, name: str, index: int, count: int) -> None: ...

    def section_total(self, name: str, total: int) -> None: ...

    def section_unit(self, name: str, done: int, total: int | None, desc: str) -> None: ...

    def section_end(self, name: str, entry: dict[str, Any]) -> None: ...


class LogReporter:
    """One line per event through ``log`` (default ``print``): section start, each unit
    (``[bench] projection 3/20 ternary n=1e6 (12.3 s)``) and section end."""

    def __init__(self, log: Callable[[str], Any] = print) -> None:
        self.log = log
        self._t0: dict[str, float] = {}

    def section_start(self, name: str, index: int, count: int) -> None:
        self._t0[name] = time.perf_counter()
        self.log(f"[bench] {name} ({index}/{count}) started")

    def section_total(self, name: str, total: int) -> None:
        pass

    def section_unit(self, name: str, done: int, total: int | None, desc: str) -> None:
        t = time.perf_counter() - self._t0.get(name, time.perf_counter())
        count = f"{done}/{total}" if total else str(done)
        self.log(f"[bench] {name} {count} {desc} ({t:.1f} s)".replace("  ", " "))

    def section_end(self, name: str, entry: dict[str, Any]) -> None:
        self.log(f"[bench] {name} {section_status(entry)}")


def section_status(entry: dict[str, Any]) -> str:
    """``done in 12.3 s: 20 rows`` / ``FAILED after 1.0 s: RuntimeError: ...``."""
    wall = entry.get("wall_s", 0.0)
    if entry.get("interrupted"):
        return f"INTERRUPTED after {wall:.1f} s: {len(entry.get('rows', []))} rows kept"
    if entry.get("error"):
        return f"FAILED after {wall:.1f} s: {entry['error']}"
    return f"done in {wall:.1f} s: {len(entry.get('rows', []))} rows"


def _accepts_progress(fn: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return "progress" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _machine_summary(m: dict[str, Any]) -> dict[str, Any]:
    keys = ("host_cpu", "cpu_count", "gpu", "torch", "git_commit")
    return {k: m.get(k) for k in keys if m.get(k) is not None}


def run_suite(quick: bool = False, only: Sequence[str] | None = None,
              log: Callable[[str], Any] = print, *, reporter: Reporter | None = None,
              checkpoint: Callable[[dict[str, Any]], Any] | None = None) -> dict[str, Any]:
    """Run the sections (all, or ``only``) and return ``{"machine", "quick", "device_kind",
    "sections"}``.

    Each section entry is ``{"rows": [...], "wall_s", "error": str | None, "date_utc",
    "quick", "machine", "load_avg_1m_after"}``. ``reporter`` (default :class:`LogReporter`
    over ``log``) hears about every section and unit; ``checkpoint(results)`` is called after
    every section with the results so far. On ``KeyboardInterrupt`` the running section is
    stored under ``results["interrupted"]`` with the rows its finished units reported,
    ``checkpoint`` is called once more, and the interrupt propagates.
    """
    names = list(only) if only else list(SECTIONS)
    bad = [n for n in names if n not in SECTIONS]
    if bad:
        raise ValueError(f"unknown benchmark section(s) {bad}; known: {list(SECTIONS)}")
    rep: Reporter = reporter if reporter is not None else LogReporter(log)
    machine = machine_info()
    out: dict[str, Any] = {"machine": machine, "quick": bool(quick),
                           "device_kind": device_kind(), "sections": {}}
    for i, name in enumerate(names):
        module = SECTIONS[name][0]
        rep.section_start(name, i + 1, len(names))
        progress = SectionProgress(
            on_total=lambda n, name=name: rep.section_total(name, n),
            on_unit=lambda k, tot, desc, _rows, name=name: rep.section_unit(name, k, tot, desc))
        t0 = time.perf_counter()
        entry: dict[str, Any] = {"rows": [], "error": None}
        try:
            mod = importlib.import_module(module)
            kwargs = {"progress": progress} if _accepts_progress(mod.run) else {}
            entry["rows"] = list(mod.run(quick=quick, **kwargs))
        except KeyboardInterrupt:
            total = f"/{progress.n_total}" if progress.n_total is not None else ""
            entry.update(rows=progress.rows, interrupted=True,
                         error=f"interrupted after {progress.n_done}{total} units")
            _finish(entry, quick, machine, t0)
            out.setdefault("interrupted", {})[name] = entry
            if checkpoint is not None:
                checkpoint(out)
            rep.section_end(name, entry)
            raise
        except Exception as exc:  # noqa: BLE001 - one broken section must not stop the rest
            entry["error"] = f"{type(exc).__name__}: {exc}"
            entry["traceback"] = traceback.format_exc(limit=5)
        _finish(entry, quick, machine, t0)
        out["sections"][name] = entry
        if checkpoint is not None:
            checkpoint(out)
        rep.section_end(name, entry)
    return out


def _finish(entry: dict[str, Any], quick: bool, machine: dict[str, Any], t0: float) -> None:
    entry["wall_s"] = time.perf_counter() - t0
    entry["date_utc"] = machine_info_date()
    entry["quick"] = bool(quick)
    entry["machine"] = _machine_summary(machine)
    if hasattr(os, "getloadavg"):
        entry["load_avg_1m_after"] = round(os.getloadavg()[0], 2)


def machine_info_date() -> str:
    """The current UTC time as printed in the report."""
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _read_results(js: Path) -> dict[str, Any]:
    if not js.is_file():
        return {}
    try:
        data = json.loads(js.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{js} is not valid JSON ({exc}); move it away rather than have "
                         "qopt bench overwrite it") from None
    if not isinstance(data, dict):
        raise ValueError(f"{js}: expected {{device_kind: results}}, got {type(data).__name__}")
    return data


def measured_sections(json_path: str | os.PathLike, kind: str) -> set[str]:
    """Names of the measured (non-quick) sections of device ``kind`` stored in ``json_path``."""
    data = _read_results(Path(json_path))
    block = data.get(kind)
    secs = block.get("sections", {}) if isinstance(block, dict) else {}
    return {n for n, e in secs.items() if isinstance(e, dict) and not e.get("quick")}


def write_results(results: dict[str, Any], md_path: str | os.PathLike,
                  json_path: str | os.PathLike | None = None) -> tuple[Path, Path]:
    """Merge ``results`` into BENCHMARKS.md and its JSON (default: same stem, ``.json``).

    Sections of ``results`` replace those of the same device kind and name; the others are
    kept. ``results["interrupted"]`` entries are stored under ``"interrupted"`` (replacing an
    older interrupted entry of the same name); a completed section clears its interrupted
    entry. Both files are written atomically.

    Raises:
        MeasuredResultsError: a quick section would replace a measured one.
        ValueError: the existing JSON is unreadable (it is left untouched).
    """
    md = Path(md_path)
    js = Path(json_path) if json_path is not None else md.with_suffix(".json")
    kind = results.get("device_kind", "cpu")
    data = _read_results(js)
    old = data.get(kind) if isinstance(data.get(kind), dict) else {}
    prev = old.get("sections", {}) or {}
    clash = sorted(n for n, e in results["sections"].items()
                   if e.get("quick") and n in prev and not prev[n].get("quick"))
    if clash:
        raise MeasuredResultsError(
            f"{js} holds measured {kind} results for {', '.join(clash)}; a quick (smoke) run "
            "does not replace them — write it elsewhere (--out)")
    merged = dict(results)
    merged["sections"] = {**{k: v for k, v in prev.items() if k not in results["sections"]},
                          **results["sections"]}
    merged["sections"] = {k: merged["sections"][k] for k in
                          [*[n for n in SECTIONS if n in merged["sections"]],
                           *[n for n in merged["sections"] if n not in SECTIONS]]}
    inter = {k: v for k, v in (old.get("interrupted") or {}).items()
             if k not in results["sections"]}
    inter.update(results.get("interrupted") or {})
    merged.pop("interrupted", None)
    if inter:
        merged["interrupted"] = inter
    merged["quick"] = any(e.get("quick", results.get("quick")) for e in
                          merged["sections"].values())
    data[kind] = merged
    old_md = md.read_text(encoding="utf-8") if md.is_file() else None
    _atomic_write(md, merge_markdown(old_md, markdown_block(merged, SECTIONS), kind))
    _atomic_write(js, json.dumps(data, indent=1, default=str) + "\n")
    return md, js


def _atomic_write(path: Path, text: str) -> None:
    from qopt.io import atomic_write_text

    atomic_write_text(path, text)
