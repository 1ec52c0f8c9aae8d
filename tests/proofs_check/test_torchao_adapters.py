"""The field's quantizers (examples/torchao_quantizers.py) in the verifier, and the judge's
exact references (proofs_check/judge.py).

torchao is optional (extra ``compare``): its tests skip with that reason when it is missing; the
absmax rule, qopt's exact int4 and the references need only torch.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from proofs_check import verify_quantizer
from qopt.cli import main
from theory import Grid, Uniform

torch = pytest.importorskip("torch")
tq = pytest.importorskip("examples.torchao_quantizers")
jq = pytest.importorskip("proofs_check.judge")

INT4 = Grid(tuple(range(-8, 8)), None)
INT4_SPEC = "scaled:" + ",".join(str(v) for v in range(-8, 8))
NF4 = Grid(tq.NF4_LEVELS_TORCHAO, None)  # torchao's own (4-decimal) levels: membership holds
TARGET = "examples/torchao_quantizers.py"


def _torchao():
    return pytest.importorskip("torchao", reason="torchao (optional extra 'compare': pip install "
                               "qopt[compare]) is not installed")


def _brute_affine(w: np.ndarray, bits: int) -> float:
    """dist(w, {a(l - z)})^2 by enumerating every code vector and every zero point (least-squares
    scale per code vector, clipped at 0)."""
    best = float(w @ w)
    for z in range(2**bits):
        for codes in itertools.product(range(2**bits), repeat=w.size):
            v = np.array(codes, dtype=float) - z
            vv = float(v @ v)
            if vv > 0:
                a = max(float(w @ v) / vv, 0.0)
                best = min(best, float(np.sum((w - a * v) ** 2)))
    return best


@pytest.mark.parametrize("seed", range(6))
def test_affine_reference_is_exact_against_brute_force(seed):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(3) + (0.7 if seed % 2 else 0.0)  # also one-signed rows
    if seed == 5:
        w = np.array([1.0, 1.0, -1.0])  # ties
    d2, q = jq.affine_reference(2)(w[None])
    assert d2[0] == pytest.approx(_brute_affine(w, 2), rel=1e-12, abs=1e-15)
    assert np.sum((w - q[0]) ** 2) == pytest.approx(d2[0], rel=1e-12, abs=1e-15)


def test_windowed_affine_reference_is_an_upper_bound():
    rng = np.random.default_rng(0)
    rows = rng.standard_normal((3, 6))
    exact, _ = jq.affine_reference(4)(rows)
    near, _ = jq.affine_reference(4, window=1, chosen=jq._torchao_zero(4))(rows)
    assert np.all(near >= exact - 1e-15)


def test_exact_int4_passes_and_absmax_int8_fails_in_process():
    ok = verify_quantizer(tq.exact_int4, INT4, 0, "torch", max_examples=10)
    assert ok.passed, ok.table()
    bad = verify_quantizer(tq.absmax_int8, Uniform(8), 0, "torch", max_examples=10,
                           checks=["membership", "optimality"])
    assert bad["membership"].status == "pass", bad.table()
    assert bad["optimality"].status == "FAIL" and bad["optimality"].counterexample is not None


def _cli(capsys, *args):
    code = main(["verify", "quantizer", *map(str, args)])
    return code, capsys.readouterr()


def test_cli_exact_affine_exits_0(capsys):
    code, out = _cli(capsys, f"{TARGET}:exact_int4", "--set", INT4_SPEC, "--backend", "torch",
                     "--axis", "0", "--examples", "10")
    assert code == 0, out.out + out.err
    assert "all checks passed" in out.out


def test_cli_wrong_affine_exits_1_with_counterexample(capsys):
    _torchao()
    code, out = _cli(capsys, f"{TARGET}:int4_symmetric", "--set", INT4_SPEC, "--backend",
                     "torch", "--axis", "0", "--examples", "10", "--timeout", "60")
    assert code == 1, out.out + out.err
    table = out.out
    assert "optimality          FAIL" in table and "counterexample w = [" in table
    # torchao's symmetric int4 is in the set: membership passes; it is just not the nearest point
    assert "membership          pass" in table


def _torchao_contract(report, name):
    """torchao's own limits, found by the contract check: NF4Tensor refuses blocks of odd length,
    the affine primitives blocks of one element in a tensor of several rows."""
    c = report["contract"]
    assert c.status == "FAIL", report.table()
    if name == "nf4":
        assert "even" in c.detail and c.counterexample.shape[1] % 2 == 1
    else:
        assert "invalid for input of size" in c.detail and c.counterexample.shape[1] == 1


@pytest.mark.parametrize("name,qset", [("int8_symmetric", Grid(tuple(range(-128, 128)), None)),
                                       ("nf4", NF4), ("int4_symmetric", INT4)])
def test_torchao_quantizers_in_the_verifier(name, qset):
    _torchao()
    fn = getattr(tq, name)
    report = verify_quantizer(fn, qset, 0, "torch", max_examples=8,
                              checks=["contract", "membership", "optimality", "determinism"])
    for c in ("membership", "determinism"):
        assert report[c].status == "pass", report.table()
    _torchao_contract(report, name)
    assert report["optimality"].status == "FAIL", report.table()
    assert report["optimality"].counterexample is not None


@pytest.mark.parametrize("name", ["int4_asymmetric", "int8_asymmetric"])
def test_torchao_asymmetric_set_free_checks(name):
    """Affine sets with a zero point have no qopt spec yet: the checks that need no set run."""
    _torchao()
    report = verify_quantizer(getattr(tq, name), INT4, 0, "torch", max_examples=8,
                              checks=["contract", "idempotence", "determinism"])
    assert report["idempotence"].status == "pass", report.table()
    assert report["determinism"].status == "pass", report.table()
    _torchao_contract(report, name)
