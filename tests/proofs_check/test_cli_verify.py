"""``qopt verify quantizer|theory|run``: tables, exit codes 0/1/2 and JSON output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from qopt.cli import main
from tests.proofs_check.test_run import GOOD, diag, write_run

QUANTIZERS = textwrap.dedent("""
    import numpy as np
    from theory import project, Ternary

    def exact(w):
        return project(w, Ternary()).q

    def twn(w):
        d = 0.7 * np.abs(w).mean()
        keep = np.abs(w) > d
        a = np.abs(w[keep]).mean() if keep.any() else 0.0
        return a * np.sign(w) * keep

    def picky(w):
        if w.size > 2:
            raise RuntimeError("cannot quantize more than two weights")
        return project(w, Ternary()).q

    class Holder:
        @staticmethod
        def exact(w):
            return project(w, Ternary()).q

    NOT_CALLABLE = 3
    """)

TORCH_QUANTIZER = textwrap.dedent("""
    import torch

    def binary(w):
        a = w.abs().mean(dim=1, keepdim=True)
        return a * torch.where(w >= 0, 1.0, -1.0)
    """)


@pytest.fixture
def qfile(tmp_path):
    p = tmp_path / "myquant.py"
    p.write_text(QUANTIZERS)
    return p


def verify(*args):
    return main(["verify", *map(str, args)])


def test_exact_quantizer_exits_0_and_writes_json(qfile, tmp_path, capsys):
    out = tmp_path / "rep.json"
    assert verify("quantizer", f"{qfile}:exact", "--set", "ternary", "--examples", 20,
                  "--json", out) == 0
    text = capsys.readouterr().out
    assert "optimality" in text and "all checks passed" in text
    rep = json.loads(out.read_text())
    assert rep["passed"] is True and rep["context"]["set"] == "ternary"
    assert {c["name"]: c["status"] for c in rep["checks"]}["optimality"] == "pass"


def test_dotted_function_name(qfile, capsys):
    assert verify("quantizer", f"{qfile}:Holder.exact", "--set", "ternary",
                  "--examples", 10) == 0


def test_wrong_quantizer_exits_1_with_counterexample(qfile, tmp_path, capsys):
    out = tmp_path / "rep.json"
    assert verify("quantizer", f"{qfile}:twn", "--set", "ternary", "--examples", 20,
                  "--json", out) == 1
    assert "counterexample w = [" in capsys.readouterr().out
    rep = json.loads(out.read_text())
    opt = {c["name"]: c for c in rep["checks"]}["optimality"]
    assert opt["status"] == "FAIL" and opt["passed"] is False
    w = np.array(opt["counterexample"], dtype=float)
    assert w.ndim == 1 and 1 <= w.size <= 4
    assert rep["passed"] is False


@pytest.mark.parametrize("target,setspec,msg", [
    ("{f}:missing", "ternary", "has no attribute"),
    ("{d}/nope.py:exact", "ternary", "does not exist"),
    ("{f}", "ternary", "PATH.py:FUNC"),
    ("{f}:NOT_CALLABLE", "ternary", "not callable"),
    ("{f}:exact", "quaternary", "unknown quantization set"),
    ("{f}:exact", "uniform:99", "bits"),
])
def test_usage_errors_exit_2(qfile, capsys, target, setspec, msg):
    t = target.format(f=qfile, d=qfile.parent)
    assert verify("quantizer", t, "--set", setspec, "--examples", 10) == 2
    assert msg in capsys.readouterr().err


def test_quantizer_raising_on_an_input_is_a_failed_check_exit_1(qfile, tmp_path, capsys):
    """Raising on some inputs is the quantizer's behaviour: exit 1, the contract check names the
    smallest such input, and every other check still runs on the inputs where it works."""
    out_json = tmp_path / "r.json"
    assert verify("quantizer", f"{qfile}:picky", "--set", "ternary", "--examples", 10,
                  "--json", out_json) == 1
    out = capsys.readouterr().out
    assert "contract            FAIL" in out
    assert "cannot quantize more than two weights" in out
    assert "counterexample w = [0, 0, 0]" in out
    checks = {c["name"]: c for c in json.loads(out_json.read_text())["checks"]}
    assert checks["optimality"]["status"] == "pass"
    assert "skipped: fn failed on them" in checks["optimality"]["detail"]


def test_torch_backend_per_channel(tmp_path, capsys):
    p = tmp_path / "tq.py"
    p.write_text(TORCH_QUANTIZER)
    assert verify("quantizer", f"{p}:binary", "--set", "binary", "--axis", 0, "--backend",
                  "torch", "--examples", 15) == 0
    assert "backend: torch" in capsys.readouterr().out


def test_no_subcommand_is_usage_error(capsys):
    assert verify() == 2
    assert "quantizer, theory, run or certificate" in capsys.readouterr().err


def test_theory_subset_exits_0_and_json(tmp_path, capsys):
    out = tmp_path / "t.json"
    assert verify("theory", "--only", "projection_exact", "bcgd_sufficient_descent",
                  "--json", out) == 0
    text = capsys.readouterr().out
    assert "brute force" in text and "random quadratics" in text
    rep = json.loads(out.read_text())
    assert [c["name"] for c in rep["checks"]] == ["projection_exact", "bcgd_sufficient_descent"]
    assert all(c["source"] and c["method"] for c in rep["checks"])


def test_theory_unknown_claim_exits_2(capsys):
    assert verify("theory", "--only", "fermat") == 2
    assert "unknown claim" in capsys.readouterr().err


def test_theory_exits_1_when_a_claim_breaks(monkeypatch, capsys):
    import proofs_check.claims_sets as cs
    from theory import project

    class Half:
        def __init__(self, p):
            self.q, self.dist2 = p.q * 0.5, p.dist2 * 1.5

    monkeypatch.setattr(cs, "project", lambda w, s, axis=None: Half(project(w, s, axis)))
    assert verify("theory", "--only", "projection_exact", "cone_orthogonality") == 1
    assert "FAIL" in capsys.readouterr().out


def test_run_subcommand(tmp_path, capsys):
    good = [diag(s, {"fc.weight": GOOD}) for s in (0, 10, 20)]
    cfg = {"method": "binaryrelax", "weights": "binary",
           "tensors": {"fc.weight": {"shape": [10, 64], "dtype": "float32", "qset": "binary"}}}
    run = write_run(tmp_path / "ok", cfg, good)
    out = tmp_path / "run.json"
    assert verify("run", run, "--json", out) == 0
    assert json.loads(out.read_text())["passed"] is True
    bad = good + [diag(30, {"fc.weight": dict(GOOD, orth_rel=0.5)})]
    run2 = write_run(tmp_path / "bad", cfg, bad)
    assert verify("run", run2) == 1
    assert "step 30 fc.weight" in capsys.readouterr().out
    assert verify("run", run2, "--orth-tol", 0.6) == 0
    assert verify("run", tmp_path / "nothing") == 2


def test_console_script_exit_code(qfile):
    """The real process exit status (not just main()'s return value)."""
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    r = subprocess.run([sys.executable, "-m", "qopt", "verify", "quantizer", f"{qfile}:twn",
                        "--set", "ternary", "--examples", "10"], capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode == 1, r.stderr
    assert "optimality" in r.stdout
