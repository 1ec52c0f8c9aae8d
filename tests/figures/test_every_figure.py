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
                        r"test_acc|train_loss)\b")


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
    assert titles == ["binary", "ternary", "symmetric:2", "symmetric:4"]
    res, fig = rendered["study_diag"]
    assert res.data["panels"] == ["binary", "ternary", "symmetric:2", "symmetric:4"]
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()][1:]
    assert titles == ["(b) binary", "(c) ternary", "(d) symmetric:2", "(e) symmetric:4"]


def test_study_curves_loss_band_stays_on_the_log_axis(rendered):
    res, _ = rendered["study_curves"]
    for key, d in res.data.items():
        if not isinstance(key, tuple):
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


@pytest.mark.parametrize("name", [n for n, s in FIGURES.items() if s.kind == "theory"])
def test_no_series_is_hidden_under_another(rendered, name):
    # a series whose every marker (or, for a plain line, every point of its path) lies under
    # another series' is invisible on the page: twolayer_landscape (b) drew ReLU exactly under
    # clipped ReLU, approx_error drew "exact, with zero" under "exact, no zero". Checked on the
    # theory figures, whose curves the math fixes (two equal closed forms are drawn so that
    # both show); in study and benchmark figures two cells may measure equal values by chance,
    # and what is asserted there is that no two cells share a look (tests/figures/
    # test_study_cells.py)
    from tests.figures.helpers import hidden_series

    _, fig = rendered[name]
    assert hidden_series(fig) == [], name


@pytest.mark.parametrize("name", list(FIGURES))
def test_legend_labels_are_unique_and_swatches_match_the_artists(rendered, name):
    # every legend entry names one thing: no label twice (bench_optimizer_step listed torchao's
    # ProxBinaryRelax twice, quant_period 10 and 1 unnamed); a legend swatch's colour is the
    # colour of some artist drawn in the figure (the projection loops' swatches did not match
    # their bars)
    from matplotlib.collections import PolyCollection
    from matplotlib.patches import Rectangle

    _, fig = rendered[name]
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]
    drawn = set()
    for ax in fig.axes:
        drawn |= {to_hex(ln.get_color()) for ln in ax.get_lines()}
        drawn |= {to_hex(p.get_facecolor()) for p in ax.patches if isinstance(p, Rectangle)}
        for c in ax.collections:
            if isinstance(c, PolyCollection):
                drawn |= {to_hex(fc) for fc in c.get_facecolor()}
    for leg in legends:
        texts = [t.get_text() for t in leg.get_texts()]
        assert len(texts) == len(set(texts)), (name, texts)
        for handle, text in zip(leg.legend_handles, texts):
            get = getattr(handle, "get_color", None) or handle.get_facecolor
            colour = to_hex(get())
            r, g, b = colour[1:3], colour[3:5], colour[5:7]
            if r == g == b and colour not in ("#000000",):
                continue  # a grey swatch keys a line style or hatch, not a colour
            assert colour in drawn, (name, text, colour)
