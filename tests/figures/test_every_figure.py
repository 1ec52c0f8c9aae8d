"""Every registered figure, rendered from a paper-sized synthetic study and benchmark results,
is clean on the page: no overlapping text, readable ticks, nothing clipped, display names only,
one colour per method across figures, panels by bit width, machine and date on benchmarks."""

from __future__ import annotations

import json
import re

import matplotlib
import pytest
from matplotlib.colors import to_hex

import figures.style
from figures.labels import METHOD_NAMES, canonical_method
from figures.registry import FIGURES, build_figure
from figures.style import METHOD_COLORS
from tests.figures.helpers import assert_written, rich_bench, write_rich_study, write_study

#: code names that must not reach a reader (legend, title, tick or axis label)
CODE_NAMES = re.compile(r"\b(binaryconnect|binaryrelax|bcgd|parq|proxquant|uniq|clipped_relu|"
                        r"symmetric:\d|uniform:\d|test_acc|train_loss)\b")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """name -> (FigureResult, the matplotlib Figure as written) for every registered figure."""
    root = tmp_path_factory.mktemp("every")
    study = write_rich_study(root / "study")
    bench = root / "bench.json"
    bench.write_text(json.dumps(rich_bench()))
    kept: list = []
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(figures.style.plt, "close", kept.append)  # keep the figure to inspect it
        for name in FIGURES:
            n0 = len(kept)
            res = build_figure(name, root / "out", results=study, bench_json=bench, quick=True)
            assert len(kept) == n0 + 1
            out[name] = (res, kept[-1])
    yield out
    for fig in kept:
        matplotlib.pyplot.close(fig)


def _legend_entries(fig):
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]
    for leg in legends:
        for handle, text in zip(leg.legend_handles, leg.get_texts()):
            yield handle, text.get_text()


def _texts(fig):
    for ax in fig.axes:
        yield ax.get_title()
        yield ax.get_xlabel()
        yield ax.get_ylabel()
        yield from (t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels())
    for _, text in _legend_entries(fig):
        yield text


@pytest.mark.parametrize("name", list(FIGURES))
def test_figure_is_written_and_clean(rendered, name):
    res, _ = rendered[name]
    assert_written(res)
    assert res.layout_problems == (), "\n".join(res.layout_problems)


@pytest.mark.parametrize("name", list(FIGURES))
def test_no_code_names_on_the_page(rendered, name):
    _, fig = rendered[name]
    bad = [t for t in _texts(fig) if CODE_NAMES.search(t)]
    assert not bad, bad


def test_method_colours_agree_across_figures(rendered):
    display = {v: k for k, v in METHOD_NAMES.items()}
    seen: dict[str, set[str]] = {}
    for name, (_, fig) in rendered.items():
        for handle, text in _legend_entries(fig):
            label = re.sub(r"\s*\(n = \d+\)$", "", text)
            method = display.get(label) or (canonical_method(label.split(" (torchao)")[0])
                                            if label.endswith("(torchao)") else None)
            if method is None:
                continue
            get = getattr(handle, "get_color", None) or handle.get_facecolor
            colour = to_hex(get())
            assert colour == METHOD_COLORS[method].lower(), (name, label, colour)
            seen.setdefault(method, set()).add(name)
    # the methods of the synthetic study/benchmarks appear in several figures, parq and
    # proxquant included
    for method in ("binaryconnect", "binaryrelax", "bcgd", "parq", "proxquant"):
        assert len(seen.get(method, ())) >= 2, (method, seen)


def test_study_panels_ordered_by_bit_width(rendered):
    res, fig = rendered["study_curves"]
    assert res.data["panels"] == ["binary", "ternary", "symmetric:2", "symmetric:4"]
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["binary", "ternary", "2-bit", "4-bit"]
    res, fig = rendered["study_diag"]
    assert res.data["panels"] == ["binary", "ternary", "symmetric:2", "symmetric:4"]
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()][1:]
    assert titles == ["(b) binary", "(c) ternary", "(d) 2-bit", "(e) 4-bit"]


def test_study_curves_loss_band_stays_on_the_log_axis(rendered):
    res, _ = rendered["study_curves"]
    for key, d in res.data.items():
        if key == "panels":
            continue
        loss = d["train_loss"]
        ok = loss["n"] > 0
        assert (loss["lo"][ok] > 0).all() and (loss["lo"][ok] <= loss["center"][ok]).all()
        # the synthetic losses spread by a factor e^1.5 per seed: a linear mean - std band
        # would cross zero somewhere (the defect this statistic avoids)


@pytest.mark.parametrize("name", ["bench_scaling", "bench_optimizer_step"])
def test_benchmark_figures_say_machine_and_date(rendered, name):
    _, fig = rendered[name]
    caption = fig.get_suptitle()
    assert "Intel(R) Xeon(R) Processor" in caption and "NVIDIA H200" in caption
    assert "2026-11-23" in caption and "commit abc1234" in caption
    assert "torch 2.13.0" in caption


@pytest.mark.parametrize("weights", [("ternary",), ("symmetric:2", "binary"),
                                     ("binary", "ternary", "uniform:3", "symmetric:3",
                                      "uniform:4", "symmetric:4")])
def test_study_figures_clean_for_any_number_of_sets(tmp_path, weights):
    # one set (column width), two (one row), six (wrapped rows / grid)
    from figures.plot_study_curves import plot_study_curves
    from figures.plot_study_diag import plot_study_diag

    study = write_study(tmp_path / "study", weights=weights)
    for plot in (plot_study_curves, plot_study_diag):
        res = plot(tmp_path / "out", study)
        assert res.layout_problems == (), (plot.__name__, res.layout_problems)
