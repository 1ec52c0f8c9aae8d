"""verify_run on synthetic run directories written in the API.md format."""

from __future__ import annotations

import json

import pytest

from proofs_check.run import load_run, verify_run


def write_run(path, config, diags, extra_lines=()):
    """A run directory: config.json + metrics.jsonl with train/eval noise around the diags."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps(config))
    lines = [json.dumps({"type": "train", "step": 0, "epoch": 0, "loss": 2.3, "lr": 0.1})]
    lines += [json.dumps({"type": "diag", **d}) for d in diags]
    lines += [json.dumps({"type": "eval", "step": 99, "epoch": 1, "test_acc": 0.5})]
    lines += list(extra_lines)
    (path / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    return path


def diag(step, layers, **glob):
    d = {"step": step, "epoch": step // 10, "phase": 1, "lr": 0.1, **glob}
    for name, metrics in layers.items():
        for k, v in metrics.items():
            d[f"{name}/{k}"] = v
    return d


GOOD = {"orth_rel": 1e-7, "approx_orth_ratio": 0.3, "flip_frac": 0.0, "lipschitz_est": 2.0,
        "dist2": 0.1, "orth_residual": 1e-9, "grad_norm": 1.0}


def test_binaryrelax_run_that_holds(tmp_path):
    recs = [diag(s, {"conv1.weight": GOOD, "fc.weight": GOOD}, lam=1.0 + s)
            for s in range(0, 80, 10)]
    recs[0]["conv1.weight/flip_frac"] = None  # first record: NaN logged as null
    run = write_run(tmp_path / "r", {"method": "binaryrelax", "weights": "ternary"}, recs)
    rep = verify_run(run)
    assert rep.passed, rep.table()
    assert rep["orthogonality"].status == "pass"
    assert rep["approx_orthogonality"].status == "pass"
    assert rep["approx_orthogonality"].figure == pytest.approx(0.3)
    assert rep["bcgd_step_condition"].status == "skip"
    assert rep["code_flips"].status == "pass"


def test_failures_name_steps_and_layers(tmp_path):
    bad_orth = dict(GOOD, orth_rel=0.2)
    bad_ratio = dict(GOOD, approx_orth_ratio=1.7, flip_frac=0.3)
    recs = [diag(s, {"conv1.weight": GOOD, "fc.weight": GOOD}) for s in range(0, 100, 10)]
    recs[3] = diag(30, {"conv1.weight": bad_orth, "fc.weight": GOOD})
    recs[9] = diag(90, {"conv1.weight": GOOD, "fc.weight": bad_ratio})
    recs.append(diag(100, {"conv1.weight": GOOD, "fc.weight": bad_ratio}, phase=2))
    run = write_run(tmp_path / "r", {"method": "binaryrelax", "weights": "binary"}, recs)
    rep = verify_run(run)
    assert not rep.passed
    o = rep["orthogonality"]
    assert o.status == "FAIL" and o.extra["failed_steps"] == [30]
    assert o.extra["failed_layers"] == ["conv1.weight"] and "step 30 conv1.weight" in o.detail
    a = rep["approx_orthogonality"]  # phase-2 record (step 100) is not a BinaryRelax phase-1 step
    assert a.status == "FAIL" and a.extra["failed_steps"] == [90]
    assert a.figure == pytest.approx(1.7)
    f = rep["code_flips"]
    assert f.status == "FAIL" and f.extra["failed_layers"] == ["fc.weight"]
    assert set(f.extra["failed_steps"]) == {90, 100}
    assert "step 90 fc.weight" in rep.table()


def test_bcgd_step_condition(tmp_path):
    # eta * L / rho: 0.01 * 2 / 0.1 = 0.2 holds; 0.1 * 2 / 0.1 = 2 fails
    ok = [diag(s, {"w": GOOD}, rho=0.1, lr=0.01) for s in (0, 10)]
    bad = [diag(20, {"w": GOOD}, rho=0.1, lr=0.1)]
    rep = verify_run(write_run(tmp_path / "r", {"method": "bcgd", "weights": "binary"}, ok + bad))
    c = rep["bcgd_step_condition"]
    assert c.status == "FAIL" and c.extra["failed_steps"] == [20]
    assert c.figure == pytest.approx(2.0)
    assert rep["approx_orthogonality"].status == "skip"
    rep2 = verify_run(write_run(tmp_path / "r2", {"method": "bcgd", "weights": "binary"}, ok))
    assert rep2["bcgd_step_condition"].status == "pass"
    assert rep2["bcgd_step_condition"].figure == pytest.approx(0.2)


def test_lipschitz_unavailable_is_skipped_not_passed(tmp_path):
    recs = [diag(s, {"w": dict(GOOD, lipschitz_est=None)}, rho=0.1) for s in (0, 10)]
    rep = verify_run(write_run(tmp_path / "r", {"method": "bcgd", "weights": "binary"}, recs))
    assert rep["bcgd_step_condition"].status == "skip"


def test_fixed_scale_set_skips_orthogonality(tmp_path):
    recs = [diag(s, {"w": dict(GOOD, orth_rel=0.5)}) for s in (0, 10)]
    rep = verify_run(write_run(tmp_path / "r", {"method": "binaryconnect",
                                                "weights": "grid:-1,0,1"}, recs))
    assert rep["orthogonality"].status == "skip"
    assert rep.passed


def test_torn_last_line_is_tolerated(tmp_path):
    recs = [diag(s, {"w": GOOD}) for s in (0, 10)]
    run = write_run(tmp_path / "r", {"method": "binaryconnect", "weights": "binary"}, recs,
                    extra_lines=['{"type": "diag", "step": 2'])
    assert len(load_run(run)[1]) == 2


@pytest.mark.parametrize("what", ["missing_dir", "no_config", "no_metrics", "no_diag"])
def test_bad_run_dirs(tmp_path, what):
    run = tmp_path / "r"
    if what != "missing_dir":
        write_run(run, {"method": "float"}, [])
        if what == "no_config":
            (run / "config.json").unlink()
        elif what == "no_metrics":
            (run / "metrics.jsonl").unlink()
    with pytest.raises(ValueError, match="run directory|config.json|metrics.jsonl|diag"):
        verify_run(run)


def test_bad_tolerance(tmp_path):
    run = write_run(tmp_path / "r", {"method": "bcgd"}, [diag(0, {"w": GOOD})])
    with pytest.raises(ValueError, match="orth_tol"):
        verify_run(run, orth_tol=-1)


@pytest.mark.slow
def test_real_trainer_run_directory(tmp_path):
    """End to end: a 1-epoch BCGD run written by the trainer is read by verify_run; BCGD's
    default rho = 1e-5 with lr = 0.1 violates eta < rho/L (the run says so, naming layers)."""
    from qopt.train import TrainConfig
    from qopt.train.trainer import train

    cfg = TrainConfig.from_dict({"dataset": "digits", "model": "mlp", "method": "bcgd",
                                 "weights": "binary", "epochs": 1, "batch_size": 64,
                                 "diag_every": 5}).validate()
    train(cfg, tmp_path / "run", resume=False, progress=False)
    rep = verify_run(tmp_path / "run")
    assert rep["orthogonality"].status == "pass"
    c = rep["bcgd_step_condition"]
    assert c.status == "FAIL" and c.figure > 1.0 and c.extra["failed_layers"]
