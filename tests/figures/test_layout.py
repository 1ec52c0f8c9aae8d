"""The layout checker finds what makes a figure unreadable, and passes clean figures."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from figures.layout import layout_problems, overlaps, text_boxes, tick_problems  # noqa: E402
from figures.style import log_axis_plain, new_figure, paper_style, save_figure  # noqa: E402


@pytest.fixture(autouse=True)
def _close_all():
    yield
    plt.close("all")


def _clean_fig():
    fig, axes = new_figure(2, 1, width="page")
    for ax in axes[0]:
        ax.plot([0, 1, 2], [1, 3, 2], label="a line")
        ax.set_xlabel("x")
        ax.set_ylabel("y")
    axes[0, 0].set_title("(a) left")
    axes[0, 1].set_title("(b) right")
    axes[0, 0].legend()
    return fig


def test_clean_figure_has_no_problems():
    with paper_style():
        assert layout_problems(_clean_fig()) == []


def test_overlapping_titles_are_found():
    # the study_diag defect: long titles over narrow panels run into each other
    with paper_style():
        fig, axes = new_figure(4, 1, width="column", constrained_layout=False)
        for i, ax in enumerate(axes[0]):
            ax.set_title(f"({chr(97 + i)}) code flips, weights: symmetric:{i}")
        probs = layout_problems(fig)
    hits = [p for p in probs if p.startswith("overlap:") and "title" in p]
    assert len(hits) >= 3, probs
    assert "code flips" in hits[0]


def test_single_tick_axis_is_found():
    # the approx_error defect: a log axis over [1, 1.8] labelled only at "1"
    with paper_style():
        fig, axes = new_figure(1, 1)
        ax = axes[0, 0]
        ax.plot([1, 2, 3], [1.0, 1.3, 1.8])
        ax.set_yscale("log")
        from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(ScalarFormatter())
        ax.yaxis.set_minor_formatter(NullFormatter())
        probs = tick_problems(fig)
    assert len(probs) == 1 and "y-axis has 1 labelled tick" in probs[0], probs


def test_readable_log_axis_fixes_the_single_tick():
    with paper_style():
        fig, axes = new_figure(1, 1)
        ax = axes[0, 0]
        ax.plot([1, 2, 3], [1.0, 1.3, 1.8])
        log_axis_plain(ax)
        assert tick_problems(fig) == []
        labels = [t.get_text() for t in ax.yaxis.get_majorticklabels()
                  if 1.0 <= float(t.get_position()[1]) <= 1.8]
    assert len(labels) >= 3


def test_clipped_label_is_found():
    with paper_style():
        fig, axes = new_figure(1, 1, constrained_layout=False)
        axes[0, 0].set_ylabel("a y label")
        fig.text(0.9, 0.5, "a note running off the right edge of the page")
        probs = layout_problems(fig)
    assert any(p.startswith("clipped:") and "running off" in p for p in probs), probs


def test_overlapping_tick_labels_are_found():
    with paper_style():
        fig, axes = new_figure(1, 1, aspect=0.3)
        ax = axes[0, 0]
        ax.plot(np.arange(40), np.arange(40))
        ax.set_xticks(np.arange(40), [f"label{i}" for i in range(40)])
        probs = layout_problems(fig)
    assert any("x-tick label" in p and p.startswith("overlap:") for p in probs), probs


def test_shared_axes_with_hidden_inner_labels_pass():
    with paper_style():
        fig, axes = new_figure(2, 2, sharex=True, sharey=True)
        for ax in axes.flat:
            ax.plot([0, 1, 2], [0, 1, 4])
        assert tick_problems(fig) == []


def test_legend_is_one_box_and_suptitle_counted_once():
    with paper_style():
        fig = _clean_fig()
        fig.suptitle("machine line")
        boxes = text_boxes(fig)
    assert sum(b.what == "figure suptitle" for b in boxes) == 1
    assert not any(b.what == "figure text" for b in boxes)
    legends = [b for b in boxes if b.what.endswith("legend")]
    assert len(legends) == 1 and legends[0].text == "a line"
    assert overlaps(boxes) == []


def test_save_figure_reports_problems(tmp_path):
    with paper_style():
        fig, axes = new_figure(4, 1, width="column", constrained_layout=False)
        for ax in axes[0]:
            ax.set_title("a long title that cannot fit")
        res = save_figure(fig, tmp_path, "bad")
    assert res.png.is_file() and any(p.startswith("overlap:") for p in res.layout_problems)
