r"""Comparisons of two arms over seeds, and the family-wise verdict of a claim made of several.

A :class:`Comparison` holds one number per seed for arm A and arm B (e.g. final test accuracy of
BinaryRelax and BinaryConnect started from the same float model of each seed). Paired by seed
(``paired=True``: the interval of the per-seed differences, :func:`~qopt.reproduce.stats.
paired_interval`, over the seeds both arms finished) or unpaired (Welch). Its ``kind`` says what
the paper claims: ``"greater"`` (A > B), ``"equivalent"`` (|A − B| < margin) or ``"describe"``
(no claim; the interval is reported, no verdict).

**Family-wise rule** (:func:`family_verdict`). A claim tested in K settings (rows) is judged at
family-wise level 95% by Bonferroni: each row's interval is recomputed at level
:math:`1 - 0.05/K` and judged by its rule (:mod:`qopt.reproduce.verdict`); the claim is
reproduced iff every row is, refuted iff some row is, inconclusive otherwise. The per-row
verdicts printed in the tables use the plain 95% intervals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from qopt.reproduce.stats import LEVEL, Interval, paired_interval, welch_interval
from qopt.reproduce.verdict import Verdict, combine, equivalent, greater
from qopt.reproduce.verdict import smoke as mark_smoke

__all__ = ["KINDS", "Comparison", "family_verdict"]

KINDS = ("greater", "equivalent", "describe")


@dataclass(frozen=True)
class Comparison:
    """Arm A vs arm B over seeds.

    Attributes:
        label: the row's name (setting), e.g. ``"MNIST-1D, binary"``.
        a_name, b_name: the arms' names. a, b: ``{seed: value}``.
        kind: one of :data:`KINDS`. margin: the equivalence margin (``kind="equivalent"``).
        paired: pair by seed (arms share an initialisation) or Welch.
        scale: display factor (100 for accuracies shown in percentage points).
    """

    label: str
    a_name: str
    b_name: str
    a: Mapping[int, float]
    b: Mapping[int, float]
    kind: str = "greater"
    margin: float | None = None
    paired: bool = True
    scale: float = 1.0
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind == "equivalent" and not (self.margin and self.margin > 0):
            raise ValueError("an 'equivalent' comparison needs a positive margin")

    @property
    def what(self) -> str:
        return f"{self.a_name} − {self.b_name}"

    def seeds(self) -> list[int]:
        """Seeds used: both arms' seeds when paired, else all."""
        if self.paired:
            return sorted(set(self.a) & set(self.b))
        return sorted(set(self.a) | set(self.b))

    def dropped(self) -> list[int]:
        """Seeds present in one arm only (a failed or missing run), excluded from a pairing."""
        return sorted(set(self.a) ^ set(self.b)) if self.paired else []

    def interval(self, level: float = LEVEL) -> Interval:
        """Interval of mean(A − B); ``ValueError`` if no seed is usable."""
        if self.paired:
            s = self.seeds()
            if not s:
                raise ValueError(f"{self.label}: no seed finished in both arms")
            return paired_interval([self.a[k] for k in s], [self.b[k] for k in s], level)
        return welch_interval(list(self.a.values()), list(self.b.values()), level)

    def verdict(self, level: float = LEVEL) -> Verdict | None:
        """The row's verdict at ``level`` (None for ``describe``)."""
        iv = self.interval(level)
        if self.kind == "greater":
            return greater(iv, self.what, self.scale)
        if self.kind == "equivalent":
            assert self.margin is not None
            return equivalent(iv, self.margin, self.what, self.scale)
        return None

    def to_dict(self, level: float = LEVEL, smoke: bool = False) -> dict:
        """JSON form; ``smoke`` marks the verdict as coming from a reduced protocol."""
        iv = self.interval(level)
        v = self.verdict(level)
        if v is not None and smoke:
            v = mark_smoke(v)
        return {"label": self.label, "a": self.a_name, "b": self.b_name, "kind": self.kind,
                "margin": self.margin, "paired": self.paired, "scale": self.scale,
                "a_values": {str(k): x for k, x in self.a.items()},
                "b_values": {str(k): x for k, x in self.b.items()},
                "seeds": self.seeds(), "dropped_seeds": self.dropped(),
                "interval": iv.to_dict(), "verdict": v.to_dict() if v else None,
                "notes": list(self.notes)}


def family_verdict(rows: Sequence[Comparison], level: float = LEVEL) -> Verdict:
    """The claim's verdict over its rows (module docstring): Bonferroni at family-wise
    ``level`` over the rows that carry a claim; ``ValueError`` if none does."""
    judged = [r for r in rows if r.kind != "describe"]
    if not judged:
        raise ValueError("family_verdict needs at least one row with a claim")
    k = len(judged)
    row_level = 1.0 - (1.0 - level) / k
    parts = [r.verdict(row_level) for r in judged]
    v = combine([p for p in parts if p is not None], "settings")
    rule = (f"each of the {k} settings judged by its rule on its {row_level:.4g} interval "
            f"(Bonferroni: family-wise {level:.0%}); " + v.rule)
    return Verdict(v.status, rule, v.reason, v.smoke)
