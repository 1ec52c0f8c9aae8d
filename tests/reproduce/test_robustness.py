"""Issue 19 item 5: training claims take their verdict from tuned arms (equal lr budget, selected
on validation) and state their protocol dependence over named variants."""

import io

import pytest

from qopt.reproduce.claim import Context
from qopt.reproduce.comparison import Comparison
from qopt.reproduce.robustness import TUNE_SEED0, headline, run_tuned, variant, verdict_of
from qopt.reproduce.staged import Arm, StagedExperiment, run_experiment
from qopt.reproduce.verdict import INCONCLUSIVE, PROTOCOL_DEPENDENT, REFUTED, REPRODUCED, Verdict

TINY = {"dataset": "mnist1d", "dataset_args": {"num_samples": 300}, "model": "mlp",
        "model_args": {"hidden": [16]}, "batch_size": 60, "lr": 0.05, "schedule": "constant",
        "log_every": 0, "diag_every": 0, "epochs": 1}


def _v(status):
    return Verdict(status, "rule", "why")


def test_headline_agrees_or_says_protocol_dependent_naming_the_variants():
    same = headline(_v(REPRODUCED), [("adam", _v(REPRODUCED)), ("axis 0", _v(REPRODUCED))])
    assert same.status == REPRODUCED and "adam, axis 0" in same.rule
    dep = headline(_v(REPRODUCED), [("adam", _v(INCONCLUSIVE)), ("axis 0", _v(REFUTED))])
    assert dep.status == PROTOCOL_DEPENDENT
    assert "adam: inconclusive" in dep.reason and "axis 0: refuted" in dep.reason
    assert "tuned (selected on validation): reproduced" in dep.reason


def test_verdict_of_a_small_robustness_case():
    """A small case: BR − BC clearly positive in one protocol, a wash in the other."""
    up = [Comparison("s", "BR", "BC", {0: 0.9, 1: 0.91, 2: 0.92}, {0: 0.5, 1: 0.52, 2: 0.49},
                     scale=100)]
    wash = [Comparison("s", "BR", "BC", {0: 0.9, 1: 0.91, 2: 0.92}, {0: 0.91, 1: 0.9, 2: 0.92},
                       scale=100)]
    v = headline(verdict_of(up), [("per channel", verdict_of(wash))])
    assert verdict_of(up).status == REPRODUCED and verdict_of(wash).status == INCONCLUSIVE
    assert v.status == PROTOCOL_DEPENDENT and "per channel: inconclusive" in v.reason
    assert verdict_of([]).status == INCONCLUSIVE


@pytest.fixture
def ctx(tmp_path):
    return Context(tmp_path, quick=True, workers=1, stream=io.StringIO())


def test_tuned_arms_select_on_validation_with_equal_budgets(ctx):
    exp = StagedExperiment("t", "tiny", TINY, {**TINY, "keep_float": ["last"]},
                           (Arm({"method": "binaryconnect", "weights": "binary"}),
                            Arm({"method": "binaryrelax", "weights": "binary"})), (0, 1))
    runs, table = run_tuned(exp, ctx, {"lr": [0.2, 0.01]}, 2)
    assert len(table) == 2
    for r in table:
        assert [t["n"] for t in r["trials"]] == [2, 2]  # same budget for every method
        assert set(r["trials"][0]["per_seed"]) == {str(TUNE_SEED0), str(TUNE_SEED0 + 1)}
        best = max(r["trials"], key=lambda t: (t["mean"], -t["trial"]))
        assert r["selected"] == best["values"]
        sel = runs.select(**r["keys"], **r["selected"])
        assert sorted(sel) == [0, 1]  # the selected lr, scored at the claim's seeds
        assert all(x.result["config"]["lr"] == r["selected"]["lr"] for x in sel.values())
    v = variant(exp, "adam", optimizer="adam", lr=1e-3)
    vr = run_experiment(v, ctx)
    assert {x.result["config"]["optimizer"] for x in vr.runs} == {"adam"}
    assert vr.floats[0].run_dir == runs.floats[0].run_dir  # the same float parents
