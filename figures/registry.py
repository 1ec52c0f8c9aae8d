"""The figure registry used by ``qopt figures``: name -> how to build it, from which inputs.

Each entry is a :class:`FigureSpec` whose ``build(ctx)`` calls one ``plot_*`` function. Kinds:

* ``theory`` — needs nothing but :mod:`theory` (seconds each, no training);
* ``study``  — reads a study directory (``docs/formats.md#study-directory``; default
  ``studies/quick``);
* ``bench``  — reads the JSON written next to BENCHMARKS.md by ``qopt bench``.

A figure whose input is absent raises :class:`MissingInput` (the CLI reports it and skips the
figure; the exit code is non-zero only when the figure was requested explicitly).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # matplotlib is imported by the builds only: ``qopt figures --help`` lists
    from figures.style import FigureResult  # the registry without it

__all__ = ["BuildContext", "FIGURES", "FigureSpec", "MissingInput", "build_figure"]

DEFAULT_RESULTS = Path("studies") / "quick"
DEFAULT_BENCH_JSON = Path("BENCHMARKS.json")


class MissingInput(RuntimeError):
    """The input a figure needs (a study directory, benchmark results) does not exist."""


@dataclass(frozen=True)
class BuildContext:
    """Inputs of a figure build.

    Attributes:
        out_dir: where the PDF/PNG files go. results: the study directory. bench_json: the
        benchmark results file. quick: smaller Monte Carlo / step counts (smoke runs).
    """

    out_dir: Path
    results: Path = DEFAULT_RESULTS
    bench_json: Path = DEFAULT_BENCH_JSON
    quick: bool = False


@dataclass(frozen=True)
class FigureSpec:
    """One registered figure: ``name`` (file stem), ``kind``, one-line ``summary``, ``build``."""

    name: str
    kind: str
    summary: str
    build: Callable[[BuildContext], FigureResult]


def _projection_1d(ctx: BuildContext) -> FigureResult:
    from figures.plot_projection_1d import plot_projection_1d

    return plot_projection_1d(ctx.out_dir, n_points=201 if ctx.quick else 801)


def _coarse_cosine(ctx: BuildContext) -> FigureResult:
    from figures.plot_coarse_cosine import plot_coarse_cosine

    if ctx.quick:
        return plot_coarse_cosine(ctx.out_dir, n_theta=41, n_mc_theta=4, n_mc=4000)
    return plot_coarse_cosine(ctx.out_dir)


def _landscape(ctx: BuildContext) -> FigureResult:
    from figures.plot_landscape import plot_landscape

    if ctx.quick:
        return plot_landscape(ctx.out_dir, steps=300, grid=48)
    return plot_landscape(ctx.out_dir)


def _approx_error(ctx: BuildContext) -> FigureResult:
    from figures.plot_approx_error import plot_approx_error

    study = ctx.results if ctx.results.is_dir() else None
    if ctx.quick:
        return plot_approx_error(ctx.out_dir, bits=(1, 2, 4), n_gauss=10_000, study_dir=study)
    return plot_approx_error(ctx.out_dir, study_dir=study)


def _require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise MissingInput(f"{what} {str(path)!r} does not exist (run `qopt study` first, or "
                           "pass --results STUDY_DIR)")
    return path


def _study_curves(ctx: BuildContext) -> FigureResult:
    from figures.plot_study_curves import plot_study_curves

    return plot_study_curves(ctx.out_dir, _require_dir(ctx.results, "study directory"))


def _study_diag(ctx: BuildContext) -> FigureResult:
    from figures.plot_study_diag import plot_study_diag

    return plot_study_diag(ctx.out_dir, _require_dir(ctx.results, "study directory"))


def _bench_scaling(ctx: BuildContext) -> FigureResult:
    from figures.bench_data import load_bench_json
    from figures.plot_bench_scaling import plot_bench_scaling

    if not ctx.bench_json.is_file():
        raise MissingInput(f"benchmark results {str(ctx.bench_json)!r} do not exist (run "
                           "`qopt bench` first)")
    return plot_bench_scaling(ctx.out_dir, load_bench_json(ctx.bench_json))


def _bench_optimizer(ctx: BuildContext) -> FigureResult:
    from figures.bench_data import load_bench_json
    from figures.plot_bench_optimizer import plot_bench_optimizer

    if not ctx.bench_json.is_file():
        raise MissingInput(f"benchmark results {str(ctx.bench_json)!r} do not exist (run "
                           "`qopt bench` first)")
    return plot_bench_optimizer(ctx.out_dir, load_bench_json(ctx.bench_json))


_SPECS = [
    FigureSpec("projection_1d", "theory",
               "projection, Moreau envelope and relaxed prox (binary/ternary/symmetric:2, several "
               "λ)",
               _projection_1d),
    FigureSpec("coarse_cosine", "theory",
               "two-layer model: cos(E coarse grad, true grad) vs θ per STE, closed form + MC",
               _coarse_cosine),
    FigureSpec("twolayer_landscape", "theory",
               "two-layer loss landscape, Prop. 1 stationary points, coarse-GD trajectories",
               _landscape),
    FigureSpec("approx_error", "theory",
               "exact vs approximate quantizers: relative error vs bits, Gaussian and trained "
               "weights (a study's float run, else a tiny CNN trained in ~1 s)", _approx_error),
    FigureSpec("study_curves", "study",
               "test accuracy and training loss vs epoch per method (mean ± std over seeds)",
               _study_curves),
    FigureSpec("study_diag", "study",
               "BinaryRelax λ continuation and code-flip fraction vs step (diag records)",
               _study_diag),
    FigureSpec("bench_scaling", "bench",
               "benchmark scaling: projection time / floor vs tensor size", _bench_scaling),
    FigureSpec("bench_optimizer_step", "bench",
               "benchmark: optimizer-step overhead per method vs the bare optimizer (and torchao)",
               _bench_optimizer),
]

#: name -> spec, in build order.
FIGURES: dict[str, FigureSpec] = {s.name: s for s in _SPECS}


def build_figure(name: str, out_dir: str | os.PathLike, **ctx_kw: object) -> FigureResult:
    """Build the registered figure ``name`` into ``out_dir`` (keyword args: BuildContext)."""
    if name not in FIGURES:
        raise ValueError(f"unknown figure {name!r}; known: {', '.join(FIGURES)}")
    ctx = BuildContext(out_dir=Path(out_dir), **ctx_kw)  # type: ignore[arg-type]
    return FIGURES[name].build(ctx)
