"""Staged experiments through the study machinery: each seed's arms start from that seed's
float run; finished runs are never retrained; an interrupted stage resumes; float stages with
the same configuration are shared; a changed configuration never mixes with old runs."""

import pytest

from qopt.reproduce import staged
from qopt.reproduce.claim import Context
from qopt.reproduce.staged import Arm, StagedExperiment, float_stage_dir, run_experiment
from qopt.train.io import read_json

TINY = {"dataset": "mnist1d", "dataset_args": {"num_samples": 300}, "model": "mlp",
        "model_args": {"hidden": [16]}, "batch_size": 60, "lr": 0.05, "schedule": "constant",
        "log_every": 0, "diag_every": 0}


def tiny(name="tiny", lr=0.05, seeds=(0, 1)):
    return StagedExperiment(name, "tiny", {**TINY, "epochs": 2},
                            {**TINY, "epochs": 2, "lr": lr, "keep_float": ["last"]},
                            (Arm({"method": "binaryconnect", "weights": "binary"}),
                             Arm({"method": "bcgd", "weights": "binary"},
                                 {"method_args": {"rho": 1e-3}})), tuple(seeds))


def mtimes(root):
    return {p: p.stat().st_mtime_ns for p in root.rglob("result.json")}


@pytest.fixture
def ctx(tmp_path):
    import io

    return Context(tmp_path, quick=True, workers=1, stream=io.StringIO())


def test_arms_start_from_the_float_run_of_their_seed(ctx):
    runs = run_experiment(tiny(), ctx)
    assert sorted(runs.floats) == [0, 1] and len(runs.runs) == 4 and not runs.failed
    for r in runs.runs:
        cfg = read_json(r.run_dir / "config.json")
        assert cfg["init_from"] == str(runs.floats[r.seed].run_dir.resolve())
        assert cfg["seed"] == r.seed
    assert runs.select(method="bcgd")[1].keys == {"method": "bcgd", "weights": "binary"}


def test_rerun_retrains_nothing(ctx):
    run_experiment(tiny(), ctx)
    before = mtimes(ctx.out_dir)
    again = run_experiment(tiny(), ctx)
    assert mtimes(ctx.out_dir) == before and len(again.runs) == 4
    assert "0 to run" in ctx.stream.getvalue().splitlines()[-1]


def test_interrupted_stage_resumes_without_recomputing(ctx, monkeypatch):
    import qopt.study

    real = qopt.study.run_study
    monkeypatch.setattr(qopt.study, "run_study", lambda *a, **k: real(*a, **k, max_runs=1))
    part = run_experiment(tiny(), ctx)  # "killed" after one run per stage
    assert len(part.floats) == 1 and len(part.runs) == 1
    first = mtimes(ctx.out_dir)
    monkeypatch.setattr(qopt.study, "run_study", real)
    full = run_experiment(tiny(), ctx)
    assert len(full.floats) == 2 and len(full.runs) == 4
    now = mtimes(ctx.out_dir)
    assert all(now[p] == t for p, t in first.items())


def test_float_stage_is_shared_by_equal_float_configs(ctx):
    a, b = tiny("a"), tiny("b", lr=0.02)
    assert float_stage_dir(a, ctx) == float_stage_dir(b, ctx)
    run_experiment(a, ctx)
    before = mtimes(float_stage_dir(a, ctx))
    run_experiment(b, ctx)
    assert mtimes(float_stage_dir(a, ctx)) == before


def test_a_changed_config_in_the_same_place_is_an_error(ctx):
    run_experiment(tiny(), ctx)
    with pytest.raises(ValueError, match="different config"):
        run_experiment(tiny(lr=0.02), ctx)


def test_from_scratch_skips_stage_one(ctx):
    exp = StagedExperiment("scratch", "tiny", {**TINY, "epochs": 1}, {**TINY, "epochs": 1},
                           (Arm({"method": "binaryconnect", "weights": "binary"}),), (0,),
                           from_float=False)
    runs = run_experiment(exp, ctx)
    assert runs.floats == {} and len(runs.runs) == 1
    assert read_json(runs.runs[0].run_dir / "config.json")["init_from"] is None
    assert not float_stage_dir(exp, ctx).exists()


def test_supports_reads_trainconfig_fields():
    assert staged.supports("lr") and not staged.supports("no_such_field")
