"""Projection certificates: written by qopt.projection.certify, replayed by proofs_check.

A certificate of an honest run passes every check; a certificate with any claim altered (a
count, an attainable value, a window that misses the optimum, an exclusion flag, the scale)
fails the check that guards that claim. Malformed files (including pickles) are refused with a
ValueError, never executed; at the CLI: exit 0 / 1 / 2.
"""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest
import torch

from proofs_check.certificate import load_certificate, verify_certificate
from qopt.cli import main
from qopt.projection import Certificate, certify
from theory.sets import Binary, Grid, Symmetric, Ternary, Uniform


def _write(tmp_path, cert: Certificate, name: str = "c.npz"):
    p = tmp_path / name
    p.write_bytes(cert.to_bytes())
    return p


def _data(kind: str, n: int = 70000) -> torch.Tensor:
    rng = np.random.default_rng(1)
    if kind == "gauss":
        return torch.from_numpy(rng.standard_normal(n))
    if kind == "cauchy":
        return torch.from_numpy(rng.standard_cauchy(n))
    return torch.from_numpy(rng.choice([0.0, 0.5, -1.5, 2.5, 3.0], n))  # exact ties


@pytest.mark.parametrize("qset", [Ternary(), Uniform(3), Uniform(4), Symmetric(2),
                                  Grid([-4, -2, -1, 0, 1, 2, 4], None)], ids=lambda q: q.spec)
@pytest.mark.parametrize("kind", ["gauss", "cauchy", "ties"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_honest_certificates_replay(tmp_path, qset, kind, dtype) -> None:
    w = _data(kind).to(dtype)
    proj, cert = certify(w, qset)
    warm, cert2 = certify(w, qset, hint=1.001 * float(proj.scale))
    assert torch.equal(warm.scale, proj.scale)
    for c in (cert, cert2):
        report = verify_certificate(_write(tmp_path, c))
        assert report.passed, report.table()
    if kind == "gauss":
        assert cert2.held  # a warm start next to the optimum is certified at the first grid


def _tampered(cert: Certificate) -> dict[str, Certificate]:
    counts = cert.counts.copy()
    k = int(np.argmax(counts))
    counts[k] += 1
    r0 = dict(cert.rounds[0])
    high = dict(r0, vlb=r0["vlb"] * 1.5)
    keep = r0["keep"].copy()
    keep[:] = False  # exclude everything, the optimum's interval included
    return {
        "summary": dataclasses.replace(cert, counts=counts),
        "attainable": dataclasses.replace(cert, rounds=(high,) + cert.rounds[1:]),
        "bounds": dataclasses.replace(cert, rounds=(dict(r0, keep=keep),) + cert.rounds[1:]),
        "window": dataclasses.replace(cert, lo=cert.hi * 1.5, hi=cert.hi * 2.0),
        "scale": dataclasses.replace(cert, scale=cert.scale * (1 + 1e-6)),
    }


@pytest.mark.parametrize("qset", [Ternary(), Uniform(4)], ids=lambda q: q.spec)
def test_every_altered_claim_is_caught(tmp_path, qset) -> None:
    _, cert = certify(_data("gauss"), qset, hint=None)
    for check, bad in _tampered(cert).items():
        report = verify_certificate(_write(tmp_path, bad, f"{check}.npz"))
        assert not report.passed and report[check].failed, (check, report.table())


def test_round_trip_and_malformed_files(tmp_path) -> None:
    _, cert = certify(_data("gauss").float(), Uniform(3))
    back = Certificate.from_bytes(cert.to_bytes())
    assert back.qset == cert.qset and np.array_equal(back.w, cert.w)
    assert np.array_equal(back.counts, cert.counts) and back.scale == cert.scale
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a projection certificate"):
        load_certificate(bad)
    evil = tmp_path / "evil.npz"
    np.savez(evil, w=np.array([object()], dtype=object), meta=np.array([1]))
    with pytest.raises(ValueError, match="not a projection certificate"):
        load_certificate(evil)  # object arrays need pickle: refused, never loaded
    pk = tmp_path / "pickle.npz"
    pk.write_bytes(pickle.dumps({"w": 1}))
    with pytest.raises(ValueError):
        load_certificate(pk)
    with pytest.raises(ValueError, match="cannot read"):
        load_certificate(tmp_path / "missing.npz")


def test_certify_refuses_sets_without_a_search() -> None:
    for qset in (Binary(), Uniform(4, scale=0.1), Grid([-1, 2], None)):
        with pytest.raises(ValueError, match="no certified search"):
            certify(_data("gauss"), qset)
    with pytest.raises(ValueError, match="at least"):
        certify(torch.randn(10), Ternary())
    with pytest.raises(ValueError, match="at least"):
        certify(torch.randn(5000), Ternary())  # one midpoint: the top-t scan is cheaper here


def test_cli_verify_certificate(tmp_path, capsys) -> None:
    _, cert = certify(_data("gauss"), Symmetric(2))
    good = _write(tmp_path, cert, "good.npz")
    assert main(["verify", "certificate", str(good), "--json", str(tmp_path / "r.json")]) == 0
    assert "projection certificate" in capsys.readouterr().out
    assert (tmp_path / "r.json").is_file()
    bad = _write(tmp_path, dataclasses.replace(cert, scale=2 * cert.scale), "bad.npz")
    assert main(["verify", "certificate", str(bad)]) == 1
    assert main(["verify", "certificate", str(tmp_path / "none.npz")]) == 2
    assert "cannot read" in capsys.readouterr().err
