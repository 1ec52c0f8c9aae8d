"""qopt.project (the independent torch implementation) passes verify_quantizer, backend torch."""

from __future__ import annotations

import pytest

from proofs_check import verify_quantizer
from theory import Binary, Grid, Symmetric, Ternary, Uniform

qopt = pytest.importorskip("qopt")
torch = pytest.importorskip("torch")
if not hasattr(qopt, "project"):  # pragma: no cover - engine not built yet
    pytest.skip("qopt.project is not available in this build", allow_module_level=True)

SETS = [Binary(), Ternary(), Uniform(4), Symmetric(2), Grid([-4, -2, -1, 0, 1, 2, 4], None),
        Grid([-1, 0, 1]), Uniform(3, 0.25)]


@pytest.mark.parametrize("qset", SETS, ids=lambda s: s.spec)
@pytest.mark.parametrize("axis", [None, 0, 1])
def test_qopt_project_float32(qset, axis):
    report = verify_quantizer(lambda w: qopt.project(w, qset, axis), qset, axis, "torch",
                              dtype="float32", max_examples=15)
    assert report.passed, report.table()


@pytest.mark.parametrize("qset", [Ternary(), Uniform(3), Grid([-1, 0, 1])], ids=str)
def test_qopt_project_float64_is_exact_to_float64_rounding(qset):
    report = verify_quantizer(lambda w: qopt.project(w, qset), qset, backend="torch",
                              dtype="float64", max_examples=25)
    assert report.passed, report.table()
    assert report["optimality"].figure <= 1 + 1e-12


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_qopt_project_half_precision(dtype):
    report = verify_quantizer(lambda w: qopt.project(w, Ternary(), 0), Ternary(), 0, "torch",
                              dtype=dtype, max_examples=20)
    assert report.passed, report.table()
    assert float(report.context["tolerance r"]) <= 0.032
