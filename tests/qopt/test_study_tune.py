"""Issue 19 items 3, 4, 6: tuning in studies (a stated space, equal budgets, selection on
validation, one scoring on test, resumable), the leak test (permuted test labels change no
tuning number and no selection) and fixed parents while sweeping a child-only field."""

import io
import json

import pytest

from qopt.study import parse_toml, run_study, study_from_dict
from qopt.study.tune import _select, final_cells, tuning_cells

BASE = """
[study]
name = "tune"
threads_per_worker = 1
[base]
dataset = "tests.qopt.user_data:blobs"
model = "mlp"
model_args = {hidden = [8]}
epochs = 1
batch_size = 64
log_every = 0
diag_every = 0
bn_recalib_batches = 2
"""


def _study(extra: str, grid: str = 'method = ["float", "binaryconnect"]\nweights = ["binary"]\n'
           'seed = [0]\n'):
    return study_from_dict(parse_toml(BASE + "[grid]\n" + grid + extra))


TUNE = """
[tune]
seeds = [10, 11]
[tune.space]
lr = [0.2, 0.02]
"""


def test_tuning_cells_cover_trials_times_seeds_with_distinct_seeds():
    st = _study(TUNE)
    cells = tuning_cells(st)
    assert len(cells) == 2 * 2 * 2  # arms x trials x tuning seeds
    assert {c.config.seed for c in cells} == {10, 11}
    assert {c.config.lr for c in cells} == {0.2, 0.02}
    assert all(c.run_id.startswith("tune_") for c in cells)


@pytest.mark.parametrize("extra,match", [
    ("[tune]\nseeds = [0]\n[tune.space]\nlr = [0.1]\n", "distinct from the seeds"),
    ("[tune]\nseeds = [5]\n[tune.space]\nseed = [1]\n", "cannot be tuned"),
    ("[tune]\nseeds = [5]\n[tune.space]\nweights = ['binary']\n", "grid key"),
    ("[tune]\nseeds = [5]\n[tune.space]\nlr = []\n", "non-empty list"),
    ("[tune]\nseeds = [5]\n[tune.space]\nnope = [1]\n", "neither a TrainConfig field"),
    ("[tune]\nseeds = [5]\nmetric = 'test_acc'\n[tune.space]\nlr = [0.1]\n", "metric"),
    ("[tune]\nseeds = [5]\n[tune.space]\nlr = [0.1]\n[tune.methods.bc]\nlr = [0.1, 0.2]\n",
     "same tuning budget"),
    ("[tune]\nseeds = [5]\n[tune.space]\nlr = [0.1, 0.2]\n[tune.methods.bc]\nepochs = [1, 3]\n",
     "same tuning budget"),
])
def test_bad_tune_tables_are_refused_up_front(extra, match):
    with pytest.raises(ValueError, match=match):
        _study(extra)


def test_selection_rule_best_mean_ties_to_the_first_failed_never():
    t = [{"trial": 0, "values": {"lr": 1}, "status": "done", "mean": 0.8},
         {"trial": 1, "values": {"lr": 2}, "status": "done", "mean": 0.9},
         {"trial": 2, "values": {"lr": 3}, "status": "done", "mean": 0.9},
         {"trial": 3, "values": {"lr": 4}, "status": "failed", "mean": 0.99}]
    assert _select(t, True)[0] == {"lr": 2}
    assert _select(t, False)[0] == {"lr": 1}
    assert _select([*t, {"trial": 4, "values": {}, "status": "pending"}], True)[0] is None


def test_selected_settings_run_at_the_study_seeds():
    st = _study(TUNE)
    table = [{"arm": "float_none", "selected": {"lr": 0.02}},
             {"arm": "binaryconnect_binary", "selected": None}]
    cells = final_cells(st, table)
    assert [(c.run_id, c.config.lr, c.config.seed) for c in cells] == [
        ("float_none_lr0.02_seed0", 0.02, 0)]


def test_child_keys_sweep_against_one_parent_per_seed():
    st = _study('[methods.float]\nlr = 0.05\n[protocol]\ninit_from = "float"\n'
                'child_keys = ["lr"]\n',
                grid='method = ["float", "binaryconnect"]\nweights = ["binary"]\n'
                     'lr = [0.1, 0.01, 0.001]\nseed = [0, 1]\n')
    parents = [c for c in st.cells if c.config.method == "float"]
    kids = [c for c in st.cells if c.config.method != "float"]
    assert len(parents) == 2 and all(p.config.lr == 0.05 for p in parents)
    assert len(kids) == 6
    assert {(k.config.seed, k.parent) for k in kids} == {(0, "float_none_seed0"),
                                                         (1, "float_none_seed1")}
    with pytest.raises(ValueError, match="not a \\[grid\\] key"):
        _study('[protocol]\ninit_from = "float"\nchild_keys = ["epochs"]\n')


def _tuned(tmp_path, name, extra_args="", space="lr = [0.2, 0.02]", seeds="[10, 11]"):
    text = BASE.replace('blobs"', 'blobs"\ndataset_args = {' + extra_args + '}') + \
        "[grid]\nmethod = ['float', 'binaryconnect']\nweights = ['binary']\nseed = [0, 1]\n" + \
        f"[tune]\nseeds = {seeds}\n[tune.space]\n{space}\n"
    out = tmp_path / name
    summary = run_study(study_from_dict(parse_toml(text)), out, workers=1, stream=io.StringIO())
    return summary, json.loads((out / "results.json").read_text()), out


def _tuning_numbers(res):
    return [(a["arm"], a["selected"], [(t["values"], t["per_seed"], t.get("mean"), t.get("lo"),
                                        t.get("hi")) for t in a["trials"]])
            for a in res["tune"]["arms"]]


def test_tuned_study_selects_on_validation_and_the_test_set_cannot_leak(tmp_path):
    """Items 3 and 4: results.json holds per arm the selection, the tuning table and the final
    test numbers; permuting the test labels (a different data set, so different runs) leaves
    every tuning number and every selection bit-identical, while the test numbers move."""
    s1, r1, out = _tuned(tmp_path, "a")
    assert not s1["failed"] and s1["n_ran"] == 2 * 2 * 2 + 2 * 2
    for arm in r1["tune"]["arms"]:
        assert arm["selected"] in ({"lr": 0.2}, {"lr": 0.02})
        best = max(arm["trials"], key=lambda t: (t["mean"], -t["trial"]))
        assert arm["selected"] == best["values"]
        for t in arm["trials"]:  # the metric is the final (BN re-estimated) validation acc
            for seed, v in t["per_seed"].items():
                rid = "tune_" + arm["arm"] + f"_lr{t['values']['lr']}_seed{seed}"
                fin = json.loads((out / "runs" / rid / "result.json").read_text())["final"]
                assert v == fin["val_acc"]
        assert arm["test"]["n"] == 2
    assert "tuning: final validation accuracy" in s1["table"] and "selected lr=" in s1["table"]
    s2, r2, _ = _tuned(tmp_path, "b", "test_label_perm = 1")
    assert _tuning_numbers(r1) == _tuning_numbers(r2)
    assert [a["test"] for a in r1["tune"]["arms"]] != [a["test"] for a in r2["tune"]["arms"]]


def test_tuning_resumes_and_continues_when_trials_or_seeds_are_added(tmp_path):
    s1, _, out = _tuned(tmp_path, "r", space="lr = [0.2]", seeds="[10]")
    assert s1["n_ran"] == 2 + 4  # 2 arms x 1 trial x 1 seed, then 2 arms x 2 seeds
    stamps = {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*/result.json")}
    s2, _, _ = _tuned(tmp_path, "r", space="lr = [0.2]", seeds="[10]")
    assert s2["n_ran"] == 0
    s3, r3, _ = _tuned(tmp_path, "r", space="lr = [0.2, 0.02]", seeds="[10, 11]")
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())  # never recomputed
    new_tune = 2 * 2 * 2 - 2
    assert s3["n_ran"] in (new_tune, new_tune + 2, new_tune + 4)  # + final runs of new picks
    assert all(len(a["trials"]) == 2 for a in r3["tune"]["arms"])
