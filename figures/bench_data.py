"""Read the benchmark results that ``qopt bench`` writes, for the benchmark figures.

* :func:`load_bench_json` — ``{device_kind: {"machine", "sections", ...}}`` (see
  :mod:`benchmarks.suite`), validated.
* :func:`machine_caption` — the line every benchmark figure carries under its title: device,
  hardware, core count, torch version, the date the section was measured and the commit, per
  device kind, so a figure cut out of its report still says where its numbers come from.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from figures.labels import device_label

__all__ = ["load_bench_json", "machine_caption"]


def load_bench_json(path: str | os.PathLike) -> dict[str, Any]:
    """Parse the benchmark JSON (``{device_kind: results}``); ``ValueError`` if malformed."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(isinstance(v, dict) and "sections" in v
                                             for v in data.values()):
        raise ValueError(f"{path}: expected {{device_kind: {{'sections': ...}}}} from qopt bench")
    return data


def machine_caption(bench: dict[str, Any], kinds: list[str], section: str) -> str:
    """One line per device kind in ``kinds``: where and when ``section`` was measured.

    Example: ``CPU: Intel(R) Xeon(R) Processor, 2 cores · torch 2.13.0 · 2026-11-23 01:08 UTC ·
    commit 6aa82e0``. A quick (smoke) section is marked "QUICK (not a measurement)". Missing
    facts are left out.
    """
    lines = []
    for kind in kinds:
        res = bench.get(kind, {})
        entry = res.get("sections", {}).get(section, {}) or {}
        # the section's own machine (sections of one file can come from different runs)
        m = {**(res.get("machine", {}) or {}), **(entry.get("machine", {}) or {})}
        hw = m.get("gpu") if kind == "cuda" and m.get("gpu") else m.get("host_cpu")
        head = f"{device_label(kind)}: {hw}" if hw else device_label(kind)
        if m.get("cpu_count") and kind != "cuda":
            head += f", {m['cpu_count']} cores"
        parts = [head]
        if m.get("torch"):
            parts.append(f"torch {m['torch']}")
        date = entry.get("date_utc") or m.get("date_utc")
        if date:
            parts.append(str(date))
        if m.get("git_commit"):
            parts.append(f"commit {m['git_commit']}")
        if entry.get("quick"):
            parts.append("QUICK (not a measurement)")
        lines.append(" · ".join(parts))
    return "\n".join(lines)
