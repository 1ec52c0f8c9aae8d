"""verify_run: three sections (issue 10 item 6). Synthetic run directories for the
hypothesis/diagnostic logic; real trainer runs for the invariants: honest runs pass, tampered
runs (wrong λ, non-quantized weights, forged records) fail."""

from __future__ import annotations

import json
import re
import shutil

import pytest
import torch

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


def test_synthetic_binaryrelax_run_that_holds(tmp_path):
    recs = [diag(s, {"conv1.weight": GOOD, "fc.weight": GOOD}, lam=1.0 + s)
            for s in range(0, 80, 10)]
    recs[0]["conv1.weight/flip_frac"] = None  # first record: NaN logged as null
    shapes = {n: {"shape": [8, 8], "dtype": "float32", "qset": "ternary"}
              for n in ("conv1.weight", "fc.weight")}
    rep = verify_run(write_run(tmp_path / "r", {"method": "binaryrelax", "weights": "ternary",
                                                "tensors": shapes}, recs))
    assert rep.passed, rep.table()
    assert rep["orthogonality"].status == "pass"
    assert rep["approx_orthogonality"].status == "holds"
    assert rep["approx_orthogonality"].extra["fraction_holds"] == 1.0
    assert rep["bcgd_step_condition"].status == "skip"
    assert rep["code_flips"].status == "holds"
    assert {c.section for c in rep.checks} == {"invariants", "hypotheses", "diagnostics"}


def test_hypotheses_are_informational_unless_strict(tmp_path):
    bad_ratio = dict(GOOD, approx_orth_ratio=1.7, flip_frac=0.3)
    recs = [diag(s, {"conv1.weight": GOOD, "fc.weight": GOOD}) for s in range(0, 100, 10)]
    recs[9] = diag(90, {"conv1.weight": GOOD, "fc.weight": bad_ratio})
    recs.append(diag(100, {"conv1.weight": GOOD, "fc.weight": bad_ratio}, phase=2))
    run = write_run(tmp_path / "r", {"method": "binaryrelax", "weights": "binary"}, recs)
    rep = verify_run(run)
    assert rep.passed  # informational
    a = rep["approx_orthogonality"]  # phase-2 record (step 100) is not a phase-1 step
    assert a.status == "violated" and a.extra["failed_steps"] == [90]
    assert a.extra["fraction_holds"] == pytest.approx(19 / 20) and a.figure == pytest.approx(1.7)
    f = rep["code_flips"]
    assert f.status == "violated" and f.extra["failed_layers"] == ["fc.weight"]
    assert set(f.extra["failed_steps"]) == {90, 100}
    assert not verify_run(run, strict=True).passed
    assert verify_run(run, flip_tol=0.5)["code_flips"].status == "holds"


def test_orthogonality_failure_is_an_invariant(tmp_path):
    """tau = 4 (u + 2 gamma_n)(1 + ||p||/||r||), n from the recorded shape (100 float32 values:
    gamma_n = 100 u / (1 - 100 u) ~ 6e-6)."""
    recs = [diag(s, {"w": GOOD}) for s in (0, 10)] + [diag(20, {"w": dict(GOOD, orth_rel=0.2)})]
    cfg = {"method": "binaryconnect", "weights": "binary",
           "tensors": {"w": {"shape": [10, 10], "dtype": "float32", "qset": "binary"}}}
    rep = verify_run(write_run(tmp_path / "r", cfg, recs))
    o = rep["orthogonality"]
    assert o.status == "FAIL" and "step 20 w" in o.detail and not rep.passed
    assert verify_run(tmp_path / "r", orth_tol=0.5).passed
    old = verify_run(write_run(tmp_path / "old", {"method": "binaryconnect",
                                                  "weights": "binary"}, recs))
    assert old["orthogonality"].status == "skip" and "--orth-tol" in old["orthogonality"].detail


def test_bcgd_step_condition_uses_the_effective_step_and_reports_fraction(tmp_path):
    # eta_eff * L / rho with eta_eff = lr / (1 - momentum): 0.01/(1-0.5) * 2 / 0.1 = 0.4 holds;
    # 0.1/(1-0.5) * 2 / 0.1 = 4 fails
    cfg = {"method": "bcgd", "weights": "binary", "momentum": 0.5, "optimizer": "sgd"}
    ok = [diag(s, {"w": GOOD}, rho=0.1, lr=0.01) for s in (0, 10, 30)]
    bad = [diag(20, {"w": GOOD}, rho=0.1, lr=0.1)]
    rep = verify_run(write_run(tmp_path / "r", cfg, ok + bad))
    c = rep["bcgd_step_condition"]
    assert c.status == "violated" and c.extra["failed_steps"] == [20] and rep.passed
    assert c.figure == pytest.approx(4.0) and c.extra["median"] == pytest.approx(0.4)
    assert c.extra["fraction_holds"] == pytest.approx(0.75)
    assert "momentum 0.5" in c.detail and "does not cover" in c.detail
    rep2 = verify_run(write_run(tmp_path / "r2", cfg, ok))
    assert rep2["bcgd_step_condition"].status == "holds"
    adam = verify_run(write_run(tmp_path / "r3", {**cfg, "optimizer": "adam"}, ok))
    assert adam["bcgd_step_condition"].status == "skip"


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
    run = write_run(tmp_path / "r", {"method": "binaryconnect", "weights": "binary"}, recs)
    with open(run / "metrics.jsonl", "a") as fh:  # a write cut by a kill: no final newline
        fh.write('{"type": "diag", "step": 2')
    assert len(load_run(run)[1]) == 2
    rep = verify_run(run)
    assert rep["log"].status == "pass" and "torn last line (line 5) tolerated" in rep["log"].detail
    assert rep.passed, rep.table()


@pytest.mark.parametrize("damage", [
    ("{garbage", "not valid JSON"),
    ('{"type": "diag", "step": 2', "not valid JSON"),  # a torn line that is not the last
    ("[1, 2]", "not a record"),
    ('{"step": 3}', "not a record"),
    ('{"type": "diag", "step": 3, "w/orth_rel": "x"}', "is not a number"),
    (b"\xff\xfe{}", "not UTF-8"),
    ("[" * 100000 + "]" * 100000, "not valid JSON|nested too deeply"),
], ids=["garbage", "torn_middle", "list", "no_type", "diag_string", "latin1", "deep"])
def test_a_damaged_line_anywhere_but_last_fails_the_log_invariant(tmp_path, damage):
    line, why = damage
    recs = [diag(s, {"w": GOOD}) for s in (0, 10, 20)]
    run = write_run(tmp_path / "r", {"method": "binaryconnect", "weights": "binary"}, recs)
    raw = (run / "metrics.jsonl").read_bytes().split(b"\n")
    raw.insert(2, line if isinstance(line, bytes) else line.encode())
    (run / "metrics.jsonl").write_bytes(b"\n".join(raw))
    rep = verify_run(run)
    assert rep["log"].status == "FAIL" and not rep.passed, rep.table()
    assert "metrics.jsonl line 3:" in rep["log"].detail
    assert re.search(why, rep["log"].detail), rep["log"].detail


def test_a_complete_damaged_last_line_is_not_a_torn_one(tmp_path):
    """A kill cuts a line before its newline; a last line WITH its newline was written whole."""
    recs = [diag(s, {"w": GOOD}) for s in (0, 10)]
    run = write_run(tmp_path / "r", {"method": "binaryconnect", "weights": "binary"}, recs,
                    extra_lines=["{garbage"])
    rep = verify_run(run)
    assert rep["log"].status == "FAIL" and "metrics.jsonl line 5:" in rep["log"].detail


def test_all_diag_lines_damaged_is_a_failure_not_missing_input(tmp_path):
    run = write_run(tmp_path / "r", {"method": "binaryconnect", "weights": "binary"},
                    [diag(0, {"w": GOOD})])
    text = (run / "metrics.jsonl").read_text().replace('{"type": "diag"', "{garbage", 1)
    (run / "metrics.jsonl").write_text(text)
    rep = verify_run(run)
    assert rep["log"].status == "FAIL" and "line 2" in rep["log"].detail


@pytest.mark.parametrize("what", ["missing_dir", "no_config", "no_metrics", "bad_method"])
def test_bad_run_dirs(tmp_path, what):
    run = tmp_path / "r"
    if what != "missing_dir":
        write_run(run, {"method": 5 if what == "bad_method" else "float"}, [])
        if what == "no_config":
            (run / "config.json").unlink()
        elif what == "no_metrics":
            (run / "metrics.jsonl").unlink()
    with pytest.raises(ValueError, match="run directory|config.json|metrics.jsonl|method"):
        verify_run(run)


def test_bad_tolerance(tmp_path):
    run = write_run(tmp_path / "r", {"method": "bcgd"}, [diag(0, {"w": GOOD})])
    with pytest.raises(ValueError, match="orth_tol"):
        verify_run(run, orth_tol=-1)


# -- real runs of the trainer: honest ones pass (a), tampered ones fail ----------------------
BASE = dict(dataset="digits", model="cnn2d", model_args={"channels": [4, 8]}, epochs=3,
            batch_size=128, lr=0.05, log_every=0, diag_every=4, num_threads=1,
            weight_decay=1e-4)
CASES = {"bc": dict(method="binaryconnect", weights="binary"),
         "br": dict(method="binaryrelax", weights="ternary",
                    method_args={"lam0": 1.0, "growth": 2.0, "phase2_at": 2}),
         "bcgd": dict(method="bcgd", weights="symmetric:2", act_bits=2, learn_alpha=True,
                      axis=0, method_args={"rho": 1e-3}),
         "parq": dict(method="parq", weights="ternary", phase2_lr_scale=0.5),
         "proxquant": dict(method="proxquant", weights="binary"),
         "float": dict()}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from qopt.train import TrainConfig, train

    root = tmp_path_factory.mktemp("verify_runs")
    for k, c in CASES.items():
        train(TrainConfig.from_dict({**BASE, **c}), root / k)
    return root


def _copy(runs, name, tmp_path):
    dst = tmp_path / name
    shutil.copytree(runs / name, dst)
    return dst


@pytest.mark.parametrize("name", list(CASES))
def test_honest_trainer_runs_pass_every_invariant(runs, name):
    rep = verify_run(runs / name)
    assert rep.passed, rep.table()
    inv = {c.name: c.status for c in rep.checks if c.section == "invariants"}
    if name == "float":
        assert inv["records"] == "pass"
    elif name in ("parq", "proxquant"):  # Phase-I forward points are their own proxes
        assert set(inv.values()) == {"pass"}, inv
    else:
        assert set(inv.values()) == {"pass"}, inv
        assert rep["forward_point"].extra["n_checked"] > 0


def _edit_jsonl(path, fn):
    lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    path.write_text("".join(json.dumps(fn(r)) + "\n" for r in lines))


def test_tampered_lambda_fails(runs, tmp_path):
    run = _copy(runs, "br", tmp_path)

    def scale(r):
        if r["type"] in ("diag", "probe") and r.get("lam") is not None:
            r["lam"] = r["lam"] * 1.5
        return r

    _edit_jsonl(run / "metrics.jsonl", scale)
    rep = verify_run(run)
    assert rep["schedule"].status == "FAIL" and rep["forward_point"].status == "FAIL"
    assert not rep.passed
    cfg_run = _copy(runs, "br", tmp_path / "cfg")  # the config claims another lam0
    conf = json.loads((cfg_run / "config.json").read_text())
    conf["method_config"]["lam0"] = 2.0
    (cfg_run / "config.json").write_text(json.dumps(conf))
    assert verify_run(cfg_run)["schedule"].status == "FAIL"


def test_non_quantized_final_weights_fail(runs, tmp_path):
    run = _copy(runs, "bc", tmp_path)
    sd = torch.load(run / "model.pt")
    name = next(iter(json.loads((run / "config.json").read_text())["tensors"]))
    sd[name] = sd[name] + 1e-3 * torch.randn_like(sd[name])
    torch.save(sd, run / "model.pt")
    rep = verify_run(run)
    assert rep["final_membership"].status == "FAIL" and name in rep["final_membership"].detail
    assert not rep.passed
    # quantized, consistent with the export, but not the projection of the latent weights
    run2 = _copy(runs, "bc", tmp_path / "b")
    sd, ex = torch.load(run2 / "model.pt"), torch.load(run2 / "quantized.pt")
    sd[name] = sd[name] * 1.25
    ex[name]["scale"] = ex[name]["scale"] * 1.25
    torch.save(sd, run2 / "model.pt")
    torch.save(ex, run2 / "quantized.pt")
    rep2 = verify_run(run2)
    assert rep2["final_membership"].status == "pass"
    assert rep2["final_projection"].status == "FAIL"


@pytest.mark.parametrize("forgery", ["eval_acc", "probe_u", "orth_rel", "diag_lr"])
def test_forged_records_fail(runs, tmp_path, forgery):
    run = _copy(runs, "bcgd", tmp_path)
    done = []

    def forge(r):
        if forgery == "eval_acc" and r["type"] == "eval" and not done:
            r["test_acc"] += 0.1
            done.append(1)
        if forgery == "probe_u" and r["type"] == "probe" and not done:
            t = next(iter(r["tensors"].values()))
            t["u"][0] = t["u"][0] * 1.01 + 1e-3
            done.append(1)
        if forgery == "orth_rel" and r["type"] == "diag" and not done:
            k = next(k for k in r if k.endswith("/orth_rel"))
            r[k] = 0.3
            done.append(1)
        if forgery == "diag_lr" and r["type"] == "diag" and not done:
            r["lr"] *= 2
            done.append(1)
        return r

    _edit_jsonl(run / "metrics.jsonl", forge)
    rep = verify_run(run)
    failing = {c.name for c in rep.checks if c.status == "FAIL"}
    want = {"eval_acc": "records", "probe_u": "forward_point", "orth_rel": "orthogonality",
            "diag_lr": "schedule"}[forgery]
    assert want in failing and not rep.passed, rep.table()


def test_reproducer_two_garbage_middle_lines_exit_1_naming_them(runs, tmp_path, capsys):
    """Issue 18: a metrics.jsonl whose 2 middle lines are ``{garbage`` passed ("all checks
    passed", exit 0): any unparsable line was skipped as if it were a torn last line."""
    from qopt.cli import main

    run = _copy(runs, "bc", tmp_path)
    lines = (run / "metrics.jsonl").read_text().splitlines(keepends=True)
    mid = len(lines) // 2
    lines[mid] = lines[mid + 1] = "{garbage\n"
    (run / "metrics.jsonl").write_text("".join(lines))
    assert main(["verify", "run", str(run)]) == 1
    out = capsys.readouterr().out
    assert f"metrics.jsonl line {mid + 1}: not valid JSON" in out
    assert f"metrics.jsonl line {mid + 2}: not valid JSON" in out
    # a torn last line of the same honest run still passes
    run2 = _copy(runs, "bc", tmp_path / "torn")
    with open(run2 / "metrics.jsonl", "a") as fh:
        fh.write('{"type": "train", "st')
    assert main(["verify", "run", str(run2)]) == 0


def test_cli_exit_codes_on_real_runs(runs, tmp_path, capsys):
    from qopt.cli import main

    assert main(["verify", "run", str(runs / "bcgd")]) == 0
    out = capsys.readouterr().out
    assert "[invariants]" in out and "[hypotheses]" in out and "[diagnostics]" in out
    assert main(["verify", "run", str(runs / "bcgd"), "--strict"]) == 1  # eta < rho/L fails
    js = tmp_path / "v.json"
    assert main(["verify", "run", str(runs / "br"), "--json", str(js), "--flip-tol", "1"]) == 0
    d = json.loads(js.read_text())
    assert set(d["sections"]) == {"invariants", "hypotheses", "diagnostics"}
    assert all(c["section"] == "invariants" for c in d["sections"]["invariants"]["checks"])


def test_reproducer_round_off_orthogonality_of_a_near_quantized_float32_tensor(tmp_path):
    """The issue's case: orth_rel = 1.4e-4 failed a fixed 1e-4 bound on a float32 run whose
    latent weights were almost quantized (||r|| tiny): round-off amplified by ||p||/||r||. With
    ||p||/||r|| = 1000 and n = 5120 the derived tau is 4 (u + 2 gamma_n)(1 + 1000) ~ 2.5: it
    holds; an error of 1e-2 at ||p||/||r|| = 1 still fails."""
    near = dict(GOOD, dist2=1e-6, orth_residual=1.4e-4 * 1e-3 * 1.0, orth_rel=1.4e-4)
    cfg = {"method": "binaryconnect", "weights": "binary",
           "tensors": {"w": {"shape": [5120], "dtype": "float32", "qset": "binary"}}}
    assert verify_run(write_run(tmp_path / "a", cfg, [diag(0, {"w": near})]))[
        "orthogonality"].status == "pass"
    far = dict(GOOD, dist2=1.0, orth_residual=1e-2, orth_rel=1e-2)
    assert verify_run(write_run(tmp_path / "b", cfg, [diag(0, {"w": far})]))[
        "orthogonality"].status == "FAIL"


def test_every_run_of_a_shortened_quick_study_passes_verify_run(tmp_path):
    """The built-in quick preset itself (methods, sets, schedules), shortened: 2 epochs, one
    seed, 600 MNIST-1D samples, diagnostics every 2 steps. Every run exits 0."""
    from qopt.cli import main

    out = tmp_path / "quick"
    assert main(["study", "quick", "--out", str(out), "--set", "epochs=3",
                 "--set", "grid.seed=[0]", "--set", "dataset_args={num_samples=600}",
                 "--set", "diag_every=2", "--set", "methods.binaryrelax.phase2_at=2"]) == 0
    runs = sorted(p for p in (out / "runs").iterdir() if p.is_dir())
    assert len(runs) == 16  # float + 5 methods x 3 sets
    for run in runs:
        rep = verify_run(run)
        assert rep.passed, rep.table()
        assert main(["verify", "run", str(run)]) == 0
