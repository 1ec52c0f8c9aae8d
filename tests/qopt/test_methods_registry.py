"""The method registry and the methods' own configs: names, aliases, fields, schedules, errors.

The registry and every method config import without torch (checked in a subprocess that makes
``import torch`` fail)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import qopt
from qopt.methods import registry
from qopt.methods.base import RunLength
from theory.parq import mirror_sigmoid

NAMES = ("binaryconnect", "binaryrelax", "bcgd", "parq", "proxquant")


def test_registry_names_aliases_and_fields() -> None:
    assert tuple(registry.METHODS) == NAMES
    assert registry.ALIASES == {"bc": "binaryconnect", "br": "binaryrelax"}
    for name, cls in registry.METHODS.items():
        assert cls.name == name and getattr(qopt, cls.__name__) is cls
        for f in registry.method_fields(name):
            assert f.help and f.default == getattr(cls(), f.name) or f.default is None
    assert [f.name for f in registry.method_fields("BR ")] == [
        f.name for f in registry.method_fields("binaryrelax")]
    f = {x.name: x for x in registry.method_fields("bcgd")}
    assert f["rho"].type is float and f["rho"].default == 1e-5
    assert registry.make_method("bc") == qopt.BinaryConnect()


@pytest.mark.parametrize("call,exc,match", [
    (lambda: registry.make_method("adamw"), ValueError, "unknown method 'adamw'"),
    (lambda: registry.make_method("bcgd", rhoo=1), ValueError, r"unknown arguments \['rhoo'\]"),
    (lambda: registry.canonical(3), TypeError, "method name must be a str"),
    (lambda: registry.as_method(3.0), TypeError, "method must be"),
])
def test_registry_errors(call, exc, match) -> None:
    with pytest.raises(exc, match=match):
        call()


def test_registry_imports_without_torch() -> None:
    code = ("import sys\nsys.modules['torch'] = None\n"
            "from qopt.methods.registry import METHODS, method_fields, make_method\n"
            "for n in METHODS: method_fields(n); make_method(n)\n"
            "assert 'torch' not in [m for m in sys.modules if sys.modules[m] is not None]\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_parq_schedule_matches_the_reference_and_needs_the_run_length() -> None:
    m = qopt.PARQ(start_frac=0.1, end_frac=0.6)
    with pytest.raises(ValueError, match=r"steps_per_epoch=S.*start_at"):
        m.init_state(RunLength(epochs=10))
    run = RunLength(epochs=10, steps_per_epoch=20)
    st = m.init_state(run)
    assert (st.t1, st.t2, st.inv_slope) == (20, 120, 1.0)
    for k in range(0, 200, 7):
        m.advance(st, "step", k, 0)
        assert st.inv_slope == pytest.approx(mirror_sigmoid(k, 20, 120, 10.0, 0.5), abs=1e-15)
        assert st.phase == (2 if k >= 120 else 1)
    assert m.phase2_epoch(run) == 6
    with pytest.raises(ValueError, match="ends"):
        qopt.PARQ(start_at=5, end_at=2).init_state(run)


def test_proxquant_schedule() -> None:
    m = qopt.ProxQuant(lam_max=0.3, phase2_frac=0.6)
    st = m.init_state(RunLength(epochs=10))
    assert st.rate == pytest.approx(0.05) and st.lam == 0.0 and st.phase == 1
    m.advance(st, "epoch", 0, 3)
    assert st.lam == pytest.approx(0.15) and st.phase == 1
    m.advance(st, "epoch", 0, 6)
    assert st.lam == pytest.approx(0.3) and st.phase == 2
    assert m.phase2_epoch(RunLength(epochs=10)) == 6
    st = qopt.ProxQuant(lam_rate=1e-4, phase2_at=200).init_state(RunLength())
    assert st.rate == 1e-4 and st.start2 == 200
    with pytest.raises(ValueError, match="epochs=E"):
        qopt.ProxQuant().init_state(RunLength())
    with pytest.raises(ValueError, match="lam_rate"):
        qopt.ProxQuant(phase2_frac=None).init_state(RunLength(epochs=3))


@pytest.mark.parametrize("make,match", [
    (lambda: qopt.PARQ(steepness=0), "steepness"), (lambda: qopt.PARQ(center=2), "center"),
    (lambda: qopt.PARQ(end_frac=1.5), "end_frac"), (lambda: qopt.PARQ(per="batch"), "per"),
    (lambda: qopt.ProxQuant(lam_max=-1), "lam_max"),
    (lambda: qopt.ProxQuant(lam_rate=float("inf")), "lam_rate"),
    (lambda: qopt.ProxQuant(phase2_at=-2), "phase2_at"),
    (lambda: qopt.BCGD(rho=True), "rho"),
])
def test_bad_method_arguments(make, match) -> None:
    with pytest.raises((TypeError, ValueError), match=match):
        make()
