"""The figures' one reader of ``metrics.jsonl`` (:func:`figures.study_data.read_metrics`): only a
torn last line (no newline after it) is skipped; any other damaged line is an error naming it,
so no figure is drawn from a damaged log (the rule of ``qopt verify run``)."""

import json

import pytest

from figures.plot_run import load_run_records
from figures.study_data import read_metrics

REC = {"type": "train", "step": 1, "epoch": 0, "loss": 1.0}


def _write(path, lines, newline_at_end=True):
    text = "\n".join(lines) + ("\n" if newline_at_end else "")
    path.write_text(text, encoding="utf-8")


def test_a_torn_last_line_is_skipped(tmp_path):
    m = tmp_path / "metrics.jsonl"
    _write(m, [json.dumps(REC), json.dumps({**REC, "step": 2}), '{"type": "tr'],
           newline_at_end=False)
    assert [r["step"] for r in read_metrics(m)] == [1, 2]


@pytest.mark.parametrize("bad", ["{garbage", "[1, 2]", '"text"'])
def test_a_damaged_middle_or_complete_last_line_is_named(tmp_path, bad):
    m = tmp_path / "metrics.jsonl"
    _write(m, [json.dumps(REC), bad, json.dumps({**REC, "step": 3})])
    with pytest.raises(ValueError, match="line 2"):
        read_metrics(m)
    _write(m, [json.dumps(REC), bad])  # complete (newline-terminated) last line: damage too
    with pytest.raises(ValueError, match="line 2"):
        read_metrics(m)


def test_plot_refuses_a_damaged_log(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    _write(run / "metrics.jsonl", [json.dumps(REC), "{garbage", "{garbage",
                                   json.dumps({**REC, "type": "eval", "step": 4})])
    with pytest.raises(ValueError, match="line 2 is not a JSON record"):
        load_run_records(run)
