"""``qopt reproduce``: every claim of the papers reproduced or refuted, with intervals.

The application layer above :mod:`qopt.study` (the engine never imports it):

============================  ==============================================================
module                        concept
============================  ==============================================================
:mod:`.claim`                 a claim's interface: spec, context, result, tables, parts
:mod:`.registry`              the claims, one module each under :mod:`.claims`
:mod:`.stats`                 t intervals over seeds (one-sample, paired, Welch)
:mod:`.verdict`               decision rules: reproduced / refuted / inconclusive
:mod:`.comparison`            two arms over seeds; family-wise verdict of a claim
:mod:`.staged`                float model per seed → quantized arms from it, via studies
:mod:`.papers_protocol`       the released codes' optimizer and schedules, scaled
:mod:`.run_metrics`           numbers read from a run's result.json
:mod:`.twolayer_descent`      BCGD on the two-layer model with a certified curvature bound
:mod:`.store`                 resumable per-claim results (atomic JSON)
:mod:`.runner`                run claims resumably, write the report
:mod:`.report`                REPORT.md and report.json
============================  ==============================================================
"""

from qopt.reproduce.claim import ClaimResult, ClaimSpec, Context, Part, Table
from qopt.reproduce.registry import CLAIM_NAMES, claims, select
from qopt.reproduce.runner import Outcome, reproduce

__all__ = ["CLAIM_NAMES", "ClaimResult", "ClaimSpec", "Context", "Outcome", "Part", "Table",
           "claims", "reproduce", "select"]
