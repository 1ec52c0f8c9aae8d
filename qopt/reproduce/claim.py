"""What a claim is to ``qopt reproduce``: its paper statement, its protocol, its computed result.

A claim module (``qopt/reproduce/claims/<name>.py``) defines one :class:`ClaimSpec`:

* ``protocol(ctx) -> dict`` — every setting that can change the claim's numbers, as plain JSON
  data (mode, seeds, sample sizes, epochs, data, model, hyperparameters). It is the claim's
  identity in the result store: a stored result is reused only for an equal protocol.
* ``run(ctx, protocol) -> ClaimResult`` — run the protocol (training goes through
  :mod:`qopt.study`, so finished runs are never recomputed) and compute the verdict.

A :class:`ClaimResult` is what the report prints: the protocol in words, every deviation from the
paper, tables of our numbers, comparisons with intervals, figures, findings (computed sentences),
and one verdict per part (:class:`Part`); the claim's ``verdict`` is stated with its rule.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from qopt.reproduce.verdict import Verdict

__all__ = ["KINDS", "ClaimResult", "ClaimSpec", "Context", "Part", "Table"]

#: kinds of claims: no training (closed forms, quadrature, Monte Carlo), training on the
#: offline data, or needing external data (CIFAR)
KINDS = ("closed-form", "training", "external")


@dataclass(frozen=True)
class Context:
    """How ``qopt reproduce`` was asked to run.

    Attributes:
        out_dir: the output directory (REPORT.md, report.json, claims/, studies/, figures/).
        quick: the reduced smoke protocol (verdicts marked as smoke).
        seeds: number of seeds, or None for each claim's default (5 full, 2 quick).
        workers, threads: study worker processes and torch threads per worker.
        data_dir: CIFAR data directory (claim ``cifar``), or None.
        stream: where progress lines go (None: the current ``sys.stdout``).
    """

    out_dir: Path
    quick: bool = False
    seeds: int | None = None
    workers: int = 2
    threads: int = 1
    data_dir: str | None = None
    stream: TextIO | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("workers", "threads"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 1024:
                raise ValueError(f"{name} must be an int in [1, 1024], got {v!r}")
        if self.seeds is not None and (isinstance(self.seeds, bool)
                                       or not isinstance(self.seeds, int) or self.seeds < 1):
            raise ValueError(f"seeds must be a positive int or None, got {self.seeds!r}")

    def n_seeds(self, full: int = 5, quick: int = 2) -> int:
        """``seeds`` if given, else the claim's default for the mode."""
        return self.seeds if self.seeds is not None else (quick if self.quick else full)

    @property
    def mode(self) -> str:
        return "quick" if self.quick else "full"

    @property
    def studies_dir(self) -> Path:
        return Path(self.out_dir) / "studies" / self.mode

    @property
    def figures_dir(self) -> Path:
        return Path(self.out_dir) / "figures"

    @property
    def out(self) -> TextIO:
        """The progress stream (``stream`` or the current ``sys.stdout``)."""
        return self.stream if self.stream is not None else sys.stdout

    def hardware(self) -> str:
        """The training hardware in words (for the deviations of training claims)."""
        import torch

        dev = "CUDA GPU, bf16 autocast (amp 'auto')" if torch.cuda.is_available() \
            else "CPU, float32"
        return f"{dev}, {self.threads} torch thread(s) per run, {self.workers} run(s) at once"

    def log(self, msg: str) -> None:
        print(msg, file=self.out, flush=True)

    def rel(self, path: str | os.PathLike) -> str:
        """``path`` relative to ``out_dir`` (for links in the report)."""
        try:
            return str(Path(path).resolve().relative_to(Path(self.out_dir).resolve()))
        except ValueError:
            return str(path)


@dataclass(frozen=True)
class Table:
    """A table of the report: ``title``, ``columns``, ``rows`` (lists of cells), ``note``."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    note: str = ""

    def to_dict(self) -> dict:
        return {"title": self.title, "columns": list(self.columns),
                "rows": [list(r) for r in self.rows], "note": self.note}

    @classmethod
    def from_dict(cls, d: dict) -> Table:
        return cls(d["title"], tuple(d["columns"]), tuple(tuple(r) for r in d["rows"]),
                   d.get("note", ""))


@dataclass(frozen=True)
class Part:
    """One judged statement of a claim: ``name``, ``statement`` and its ``verdict``;
    ``counts=False`` marks a statement reported beside the claim but not entering its verdict
    (a finding about released code, or a question beyond the paper's hypotheses)."""

    name: str
    statement: str
    verdict: Verdict
    counts: bool = True

    def to_dict(self) -> dict:
        return {"name": self.name, "statement": self.statement, "verdict": self.verdict.to_dict(),
                "counts": self.counts}

    @classmethod
    def from_dict(cls, d: dict) -> Part:
        return cls(d["name"], d["statement"], Verdict.from_dict(d["verdict"]),
                   bool(d.get("counts", True)))


@dataclass(frozen=True)
class ClaimResult:
    """The computed outcome of a claim (see the module docstring).

    ``verdict`` is the claim's headline verdict; ``parts`` the verdicts it was computed from
    (or reported beside it); ``comparisons`` the serialised :class:`~qopt.reproduce.comparison.
    Comparison` rows; ``data`` free-form numbers for report.json.
    """

    verdict: Verdict
    protocol_lines: tuple[str, ...]
    deviations: tuple[str, ...] = ()
    parts: tuple[Part, ...] = ()
    tables: tuple[Table, ...] = ()
    comparisons: tuple[dict, ...] = ()
    findings: tuple[str, ...] = ()
    figures: tuple[str, ...] = ()
    data: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"verdict": self.verdict.to_dict(), "protocol_lines": list(self.protocol_lines),
                "deviations": list(self.deviations), "parts": [p.to_dict() for p in self.parts],
                "tables": [t.to_dict() for t in self.tables],
                "comparisons": list(self.comparisons), "findings": list(self.findings),
                "figures": list(self.figures), "data": self.data}

    @classmethod
    def from_dict(cls, d: dict) -> ClaimResult:
        return cls(Verdict.from_dict(d["verdict"]), tuple(d["protocol_lines"]),
                   tuple(d.get("deviations", ())),
                   tuple(Part.from_dict(p) for p in d.get("parts", ())),
                   tuple(Table.from_dict(t) for t in d.get("tables", ())),
                   tuple(d.get("comparisons", ())), tuple(d.get("findings", ())),
                   tuple(d.get("figures", ())), dict(d.get("data", {})))


@dataclass(frozen=True)
class ClaimSpec:
    """A registered claim.

    Attributes:
        name: CLI name (``ste-correlation``). title: one line.
        statement: the paper's claim, in its words where seen. paper_numbers: the number(s) the
            paper reports ("" if the claim has none). source: paper, section/lemma/table.
        kind: one of :data:`KINDS`. protocol, run: see the module docstring.
    """

    name: str
    title: str
    statement: str
    paper_numbers: str
    source: str
    kind: str
    protocol: Callable[[Context], dict]
    run: Callable[[Context, dict], ClaimResult]

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
