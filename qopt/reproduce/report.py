"""The reproduction report: ``OUT/REPORT.md`` (for people) and ``OUT/report.json`` (for code).

For every claim: the paper's statement and numbers with the source, the protocol actually run,
every deviation from the paper, our numbers (tables with 95% intervals over seeds), the
comparisons with their intervals, the computed verdict with the rule that produced it, the
parts it was computed from, findings (computed sentences) and figures. A header records the
command, the mode (a ``--quick`` report is marked as a smoke run throughout), the software and
the hardware. Both files are written atomically.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qopt.reproduce.claim import Context, Table
from qopt.train.io import atomic_write_json, atomic_write_text

__all__ = ["RULES", "environment", "render", "write_report"]

#: the decision rules, printed once in every report
RULES = (
    "Intervals are two-sided 95% Student t intervals over seeds; arms that start from the same "
    "float model of a seed are compared paired by seed (interval of the per-seed differences), "
    "otherwise by Welch's interval. One seed gives no interval. Intervals of an accuracy are "
    "shown clipped to [0, 100]% (the verdicts use the unclipped ones).",
    "'A > B' is reproduced when the interval of A − B lies above 0, refuted when it lies below "
    "0, inconclusive otherwise.",
    "'A ≈ B' (margin δ) is reproduced when the interval of A − B lies inside (−δ, δ), refuted "
    "when it lies wholly outside, inconclusive otherwise.",
    "A claim tested in K settings is judged family-wise (Bonferroni: each setting at level "
    "1 − 0.05/K): reproduced when every setting is, refuted when some setting is, inconclusive "
    "otherwise. Per-setting verdicts in the tables use the plain 95% intervals.",
    "Closed form vs Monte Carlo: z = (closed − MC)/SE; agreement when every |z| is below the "
    "Bonferroni-corrected two-sided 95% normal quantile over all points, refuted otherwise. "
    "'> 0 by Monte Carlo': every simultaneous lower bound above 0.",
    "Deterministic numbers (quadrature, exact counts) are judged against stated tolerances, "
    "and inequalities claimed at every step by their number of violations beyond rounding.",
    "A claim made of parts is reproduced when every counted part is, refuted when some part "
    "is, inconclusive otherwise. Parts marked 'not counted' are findings reported beside it.",
    "--quick verdicts come from a reduced smoke protocol and are labelled '(smoke run)': they "
    "show the pipeline works, they do not speak for the claims.",
)


def environment(ctx: Context) -> dict[str, Any]:
    """Software and hardware of this invocation."""
    import torch

    import qopt
    from qopt.reproduce.store import code_fingerprint

    return {"qopt": qopt.__version__, "code": code_fingerprint(),
            "python": platform.python_version(), "torch": torch.__version__,
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "cuda": torch.cuda.is_available(),
            "workers": ctx.workers, "threads_per_worker": ctx.threads}


def _md(x: Any) -> str:
    """Text for Markdown: '*' escaped (v*, w* would otherwise start emphasis)."""
    return str(x).replace("*", "\\*")


def _cell(x: Any) -> str:
    return _md(x).replace("|", "\\|").replace("\n", " ")


def _md_table(t: Table) -> list[str]:
    out = [f"*{_md(t.title)}*", "", "| " + " | ".join(map(_cell, t.columns)) + " |",
           "|" + "|".join("---" for _ in t.columns) + "|"]
    out += ["| " + " | ".join(map(_cell, r)) + " |" for r in t.rows]
    if t.note:
        out += ["", t.note]
    return out + [""]


def _comparisons(comps: Sequence[dict]) -> list[str]:
    if not comps:
        return []
    out = ["*Comparisons (A − B; accuracies in percentage points)*", "",
           "| setting | A − B | mean [95% interval] | n | pairing | claim | verdict |",
           "|---|---|---|---|---|---|---|"]
    for c in comps:
        iv, s = c["interval"], c.get("scale", 1.0)
        if iv["degenerate"] == "n=1":
            ci = f"{iv['mean'] * s:.3g} (one seed)"
        else:
            ci = f"{iv['mean'] * s:.3g} [{iv['lo'] * s:.3g}, {iv['hi'] * s:.3g}]"
        claim = {"greater": "A > B", "equivalent": f"|A − B| < {(c.get('margin') or 0) * s:g}",
                 "describe": "(none)"}[c["kind"]]
        v = c["verdict"]["label"] if c.get("verdict") else "-"
        pairing = "paired by seed" if c["paired"] else "Welch"
        if c.get("dropped_seeds"):
            pairing += f" (unpaired seeds dropped: {c['dropped_seeds']})"
        out.append("| " + " | ".join(map(_cell, (c["label"], f"{c['a']} − {c['b']}", ci,
                                                   iv["n"], pairing, claim, v))) + " |")
    return out + [""]


def _claim_section(o: Any) -> list[str]:
    spec, res = o.spec, o.result
    out = [f"## {spec.name}: {_md(spec.title)}", ""]
    out += [f"**Paper.** {_md(spec.statement)}", "",
            f"**Paper's numbers.** {_md(spec.paper_numbers)}", "", f"**Source.** {spec.source}",
            ""]
    if res is None:
        last = (o.error or "").strip().splitlines()[-1:] or ["unknown error"]
        return out + [f"**Verdict: not computed** — the protocol raised `{_cell(last[0])}` "
                      "(full traceback in report.json).", ""]
    if o.stale:
        out += ["*Stored by an earlier invocation (not selected now); its protocol is in "
                "report.json.*", ""]
    out += ["**Protocol run.**", ""] + [f"- {_md(line)}" for line in res.protocol_lines] + [""]
    out += ["**Deviations from the paper.**", ""]
    out += [f"- {_md(d)}" for d in res.deviations] or ["- none"]
    out += [""]
    for t in res.tables:
        out += _md_table(t)
    out += _comparisons(res.comparisons)
    v = res.verdict
    out += [f"**Verdict: {v.label}** — {_md(v.reason)}.", "", f"Rule: {_md(v.rule)}.", ""]
    if res.parts:
        out += ["| part | statement | verdict | reason |", "|---|---|---|---|"]
        for p in res.parts:
            name = p.name + ("" if p.counts else " (not counted)")
            out.append("| " + " | ".join(map(_cell, (name, p.statement, p.verdict.label,
                                                       p.verdict.reason))) + " |")
        out += [""]
    if res.findings:
        out += ["**Findings.**", ""] + [f"- {_md(f)}" for f in res.findings] + [""]
    for fig in res.figures:
        out += [f"![{Path(fig).stem}]({fig})", ""]
    return out


def _in_short(outcomes: Sequence[Any]) -> list[str]:
    """One line per verdict status listing the claims that got it."""
    by: dict[str, list[str]] = {}
    for o in outcomes:
        status = o.result.verdict.status if o.result else "not computed (error)"
        by.setdefault(status, []).append(o.spec.name)
    return [f"- **{status}**: {', '.join(names)}" for status, names in by.items()]


def render(ctx: Context, outcomes: Sequence[Any], command: str) -> str:
    """The Markdown report."""
    env = environment(ctx)
    smoke = ctx.quick
    lines = ["# qopt reproduction report", ""]
    if smoke:
        lines += ["> **SMOKE RUN (`--quick`)**: reduced protocols (2 seeds, a few epochs, small "
                  "samples). The verdicts below exercise the pipeline; they do not speak for the "
                  "papers' claims. Run without `--quick` for the report of record.", ""]
    lines += [f"Command: `{command}` — generated {time.strftime('%Y-%m-%d %H:%M %Z')}.", "",
              f"Software: qopt {env['qopt']} (claim code {env['code']}), Python "
              f"{env['python']}, torch {env['torch']}. "
              f"Hardware: {env['processor']}, {env['cpu_count']} CPU(s), CUDA "
              f"{'available' if env['cuda'] else 'not available'}; {env['workers']} worker "
              f"process(es) × {env['threads_per_worker']} torch thread(s).", ""]
    lines += ["## Summary", ""] + _in_short(outcomes) + [
        "", "| claim | verdict | parts | time (s) |", "|---|---|---|---|"]
    for o in outcomes:
        if o.result is None:
            verdict, parts = "not computed (error)", ""
        else:
            verdict = o.result.verdict.label
            parts = "; ".join(f"{p.name}: {p.verdict.label}" + ("" if p.counts else " (n.c.)")
                              for p in o.result.parts)
        when = f"{o.wall_s:.0f}" + (" (stored)" if o.reused else "")
        lines.append("| " + " | ".join(map(_cell, (o.spec.name, verdict, parts, when))) + " |")
    lines += ["", "## How verdicts are decided", ""] + [f"- {r}" for r in RULES] + [""]
    for o in outcomes:
        lines += _claim_section(o)
    return "\n".join(lines).rstrip() + "\n"


def write_report(ctx: Context, outcomes: Sequence[Any], command: str) -> Path:
    """Write ``REPORT.md`` and ``report.json`` into ``ctx.out_dir``; returns the .md path."""
    out = Path(ctx.out_dir)
    atomic_write_json(out / "report.json", {
        "command": command, "mode": ctx.mode, "smoke": ctx.quick,
        "generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "environment": environment(ctx),
        "rules": list(RULES),
        "claims": [{"name": o.spec.name, "title": o.spec.title, "statement": o.spec.statement,
                    "paper_numbers": o.spec.paper_numbers, "source": o.spec.source,
                    "kind": o.spec.kind, "protocol": o.protocol, "wall_s": o.wall_s,
                    "reused": o.reused, "stale": o.stale, "error": o.error,
                    "result": o.result.to_dict() if o.result else None} for o in outcomes]})
    return atomic_write_text(out / "REPORT.md", render(ctx, outcomes, command))
