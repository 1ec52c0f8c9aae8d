"""``qopt reproduce`` end to end: the CLI (usage errors, --list), the closed-form claims in
--quick mode, and the training claims on tiny protocols (patched sizes, same code path):
report, JSON, figures, smoke labels, and a rerun that recomputes nothing."""

import json

import pytest

from qopt.cli import main
from qopt.reproduce.claims import bcgd_descent, br_vs_bc, ste_table1
from qopt.reproduce.staged import Arm, StagedExperiment, supports

TINY = {"dataset": "mnist1d", "dataset_args": {"num_samples": 300}, "model": "mlp",
        "model_args": {"hidden": [16]}, "optimizer": "sgd", "momentum": 0.9,
        "weight_decay": 0.0, "batch_size": 60, "schedule": "constant", "log_every": 0,
        "diag_every": 0}


def test_list_and_usage_errors(capsys, tmp_path):
    assert main(["reproduce", "--list"]) == 0
    out = capsys.readouterr().out
    assert all(n in out for n in ("ste-correlation", "br-vs-bc", "ste-table1", "cifar"))
    for argv, msg in ((["nope"], "unknown claim(s) nope"), (["--seeds", "0"], "seeds"),
                      (["--data-dir", str(tmp_path / "missing")], "not a directory"),
                      (["--workers", "0"], "workers")):
        assert main(["reproduce", *argv, "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and msg in err[0], err


def test_closed_form_claims_quick(capsys, tmp_path):
    out = tmp_path / "rep"
    argv = ["reproduce", "ste-correlation", "uniq-steps", "cifar", "--quick", "--out", str(out)]
    assert main(argv) == 0
    md = (out / "REPORT.md").read_text()
    rep = json.loads((out / "report.json").read_text())
    assert [c["name"] for c in rep["claims"]] == ["ste-correlation", "uniq-steps", "cifar"]
    assert rep["smoke"] and "SMOKE RUN" in md
    assert rep["claims"][0]["result"]["verdict"]["status"] == "reproduced"
    assert rep["claims"][2]["result"]["verdict"]["status"] == "not run"
    assert "qopt reproduce cifar --data-dir DIR" in md
    assert (out / "figures" / "ste_correlation.png").is_file()
    assert "![ste_correlation](figures/ste_correlation.png)" in md
    capsys.readouterr()
    stamp = (out / "claims" / "quick" / "uniq-steps.json").stat().st_mtime_ns
    assert main(argv) == 0
    assert capsys.readouterr().out.count("(reused)") == 3
    assert (out / "claims" / "quick" / "uniq-steps.json").stat().st_mtime_ns == stamp


@pytest.fixture
def tiny_protocols(monkeypatch):
    monkeypatch.setattr(br_vs_bc, "DATASETS", {"mnist1d": {
        "label": "MNIST-1D", "model": "mlp", "model_args": {"hidden": [16]},
        "dataset_args": {"num_samples": 300}, "epochs": (2, 2), "quick_epochs": (1, 2),
        "quick_weights": ("binary",)}})

    def stages(ctx):
        return ({**TINY, "lr": 0.1, "epochs": 1},
                {**TINY, "lr": 0.01, "epochs": 2, "method": "float", "act_forward": "round",
                 "learn_alpha": False})

    monkeypatch.setattr(ste_table1, "_stages", stages)

    def bcgd_exp(ctx):
        base = {**TINY, "lr": 0.1, "momentum": 0.0, "batch_size": 240, "epochs": 4,
                "keep_float": ["last"], "diag_every": 1, "method_args": {"rho": 1e-5}}
        return StagedExperiment("bcgd-descent-mnist1d", "tiny", {**TINY, "lr": 0.1,
                                                                  "epochs": 1}, base,
                                (Arm({"method": "bcgd", "weights": "binary"}),), (0, 1))

    monkeypatch.setattr(bcgd_descent, "experiment", bcgd_exp)


def test_training_claims_tiny_end_to_end(tiny_protocols, capsys, tmp_path):
    out = tmp_path / "rep"
    argv = ["reproduce", "bcgd-descent", "br-vs-bc", "ste-table1", "--quick", "--workers", "1",
            "--out", str(out)]
    assert main(argv) == 0
    rep = json.loads((out / "report.json").read_text())
    by = {c["name"]: c for c in rep["claims"]}
    for name in ("bcgd-descent", "br-vs-bc", "ste-table1"):
        res = by[name]["result"]
        assert res is not None, by[name]["error"]
        assert res["verdict"]["smoke"] and res["verdict"]["status"] in (
            "reproduced", "refuted", "inconclusive", "protocol-dependent")
    bvb = by["br-vs-bc"]["result"]
    comp = [c for c in bvb["comparisons"] if c["kind"] == "greater"]
    assert comp and comp[0]["seeds"] == [0, 1] and comp[0]["paired"]
    assert comp[0]["interval"]["n"] == 2
    md = (out / "REPORT.md").read_text()
    if not supports("bn_recalib_batches"):
        assert "NOT re-estimated" in md
    trained = by["bcgd-descent"]["result"]["data"]["trained"]
    assert trained["steps"] == 8  # 2 seeds x 4 full-batch steps
    # a rerun recomputes nothing: every run's result.json is untouched
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("result.json")}
    # bcgd: 2 runs (its float models are br-vs-bc's: same float config); br-vs-bc and
    # ste-table1: 2 + 1 floats (scored + tuning seed),
    # 3 arms x (2 lr trials x 1 tuning seed + 2 seeds tuned) and 2 seeds per protocol variant
    # (br-vs-bc: released, Adam, axis 0; ste-table1: released, Adam)
    assert len(stamps) == 2 + (3 + 3 * (2 + 2) + 3 * 2 * 3) + (3 + 3 * (2 + 2) + 3 * 2 * 2)
    assert bvb["verdict"]["status"] in ("reproduced", "refuted", "inconclusive",
                                        "protocol-dependent")
    assert any(t["title"].startswith("Robustness") for t in bvb["tables"])
    assert "tuning" in bvb["data"] and all(a["selected"] for a in bvb["data"]["tuning"][
        "mnist1d"])
    capsys.readouterr()
    assert main(argv) == 0
    assert capsys.readouterr().out.count("(reused)") == 3
    assert {p: p.stat().st_mtime_ns for p in out.rglob("result.json")} == stamps


def test_full_mode_paths_on_tiny_protocols(tiny_protocols, monkeypatch, tmp_path):
    """The full protocol's extra paths (every weight set / bit width, ste-table1's
    diagnostics with activation statistics) on tiny sizes, not in --quick mode."""
    import io

    from qopt.reproduce.claim import Context
    from qopt.reproduce.runner import reproduce

    monkeypatch.setattr(br_vs_bc, "WEIGHTS", ("binary", "ternary"))
    monkeypatch.setitem(br_vs_bc.DATASETS["mnist1d"], "epochs", (1, 2))
    monkeypatch.setattr(ste_table1, "FACTORS", {"forward": "round", "BN": "none",
                                                "init": "float model", "model": "mlp"})
    monkeypatch.setattr(ste_table1, "DIAGNOSTICS", {"reference": {},
                                                    "ceil": {"forward": "ceil"},
                                                    "scratch": {"init": "scratch"}})
    monkeypatch.setattr(ste_table1, "DIAG_EPOCHS", 1)
    ctx = Context(tmp_path, seeds=2, workers=1, stream=io.StringIO())
    out = reproduce(["br-vs-bc", "ste-table1"], ctx)
    assert all(o.error is None for o in out), [o.error for o in out]
    bvb, ste = (o.result for o in out)
    assert not bvb.verdict.smoke and len([c for c in bvb.comparisons
                                          if c["kind"] == "greater"]) == 2
    assert {r[0] for r in ste.tables[0].rows} == {2, 4}
    diag = ste.tables[1]
    assert [r[0] for r in diag.rows] == ["reference", "ceil", "scratch"]
    assert all("/" in r[-1] and r[-1].endswith("%") for r in diag.rows)
    assert any("No gap in" in f or "gap (interval above 1 point) in" in f
               for f in ste.findings)
