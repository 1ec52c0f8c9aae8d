"""Run claims resumably and write the report: the engine of ``qopt reproduce``.

For each selected claim: compute its protocol (:meth:`ClaimSpec.protocol`); if the result store
holds a result with an equal protocol, reuse it (nothing is recomputed); otherwise run the claim
(training claims resume their studies: finished runs are never rerun) and store the result
atomically. A claim that raises is reported with its error and the others still run. The report
(``REPORT.md`` + ``report.json``) is rewritten after every claim, so an interrupted invocation
leaves a valid report of what finished.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass

from qopt.reproduce.claim import ClaimResult, ClaimSpec, Context
from qopt.reproduce.registry import select
from qopt.reproduce.store import ResultStore

__all__ = ["Outcome", "reproduce"]


@dataclass(frozen=True)
class Outcome:
    """One claim of an invocation: its spec and protocol, its result (or ``error``), the wall
    time of the computation that produced the result, and whether it was ``reused`` from the
    store (``stale``: stored by an earlier invocation with another protocol, shown because the
    claim was not selected now)."""

    spec: ClaimSpec
    protocol: dict
    result: ClaimResult | None
    error: str | None
    wall_s: float
    reused: bool = False
    stale: bool = False


def reproduce(names: Sequence[str] | None, ctx: Context, command: str = "qopt reproduce"
              ) -> list[Outcome]:
    """Run the claims ``names`` (all when empty) in ``ctx``; write the report; return outcomes.

    Raises:
        ValueError: an unknown claim name.
    """
    from qopt.reproduce.report import write_report

    specs = select(names)
    store = ResultStore(ctx.out_dir, ctx.mode)
    chosen = {s.name for s in specs}
    outcomes: dict[str, Outcome] = {}
    for spec in select(None):  # claims stored earlier in this mode, shown as such
        if spec.name in chosen:
            continue
        stored = store.stored_protocol(spec.name)
        hit = store.load(spec.name, stored) if stored is not None else None
        if hit is not None:
            outcomes[spec.name] = Outcome(spec, stored, hit[0], None, hit[1], True, True)
    for spec in specs:
        prot = spec.protocol(ctx)
        hit = store.load(spec.name, prot)
        if hit is not None:
            ctx.log(f"== {spec.name}: finished earlier with this protocol (reused)")
            outcomes[spec.name] = Outcome(spec, prot, hit[0], None, hit[1], reused=True)
            continue
        ctx.log(f"== {spec.name}: {spec.title}")
        t0 = time.perf_counter()
        try:
            res = spec.run(ctx, prot)
        except Exception as exc:  # noqa: BLE001 - reported in the report, the others still run
            tb = traceback.format_exc()
            ctx.log(f"== {spec.name}: FAILED: {type(exc).__name__}: {exc}")
            outcomes[spec.name] = Outcome(spec, prot, None, tb, time.perf_counter() - t0)
        else:
            wall = time.perf_counter() - t0
            store.save(spec.name, prot, res, wall)
            ctx.log(f"== {spec.name}: {res.verdict.label} ({wall:.0f} s)")
            outcomes[spec.name] = Outcome(spec, prot, res, None, wall)
        write_report(ctx, _ordered(outcomes), command)
    ordered = _ordered(outcomes)
    write_report(ctx, ordered, command)
    return ordered


def _ordered(outcomes: dict[str, Outcome]) -> list[Outcome]:
    from qopt.reproduce.registry import CLAIM_NAMES

    return [outcomes[n] for n in CLAIM_NAMES if n in outcomes]
