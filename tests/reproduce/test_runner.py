"""Resumption of ``qopt reproduce``: finished claims are never recomputed, an interrupted
invocation keeps what finished, a changed protocol recomputes, errors are reported."""

import json

import pytest

from qopt.reproduce import registry
from qopt.reproduce.claim import ClaimResult, Context
from qopt.reproduce.runner import reproduce
from qopt.reproduce.store import ResultStore
from tests.reproduce import fake_claims


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setattr(registry, "CLAIM_MODULES", {"alpha": "tests.reproduce.fake_alpha",
                                                    "beta": "tests.reproduce.fake_beta"})
    monkeypatch.setattr(registry, "CLAIM_NAMES", ("alpha", "beta"))
    fake_claims.CALLS.update(alpha=0, beta=0)
    fake_claims.BEHAVIOUR["beta"] = "ok"
    return fake_claims


def test_rerun_reuses_finished_claims(fake, tmp_path):
    ctx = Context(tmp_path, quick=True)
    out = reproduce(None, ctx)
    assert [o.spec.name for o in out] == ["alpha", "beta"] and fake.CALLS == {"alpha": 1,
                                                                              "beta": 1}
    stamp = (tmp_path / "claims" / "quick" / "alpha.json").stat().st_mtime_ns
    out2 = reproduce(None, ctx)
    assert fake.CALLS == {"alpha": 1, "beta": 1}
    assert all(o.reused for o in out2)
    assert (tmp_path / "claims" / "quick" / "alpha.json").stat().st_mtime_ns == stamp
    assert out2[0].result == out[0].result


def test_interrupted_invocation_keeps_finished_claims(fake, tmp_path):
    ctx = Context(tmp_path)
    fake.BEHAVIOUR["beta"] = "kill"
    with pytest.raises(KeyboardInterrupt):
        reproduce(None, ctx)
    assert (tmp_path / "claims" / "full" / "alpha.json").exists()
    assert not (tmp_path / "claims" / "full" / "beta.json").exists()
    report = (tmp_path / "REPORT.md").read_text()  # written after alpha finished
    assert "## alpha" in report and "## beta" not in report
    fake.BEHAVIOUR["beta"] = "ok"
    reproduce(None, ctx)
    assert fake.CALLS == {"alpha": 1, "beta": 2}


def test_changed_protocol_recomputes_only_that_mode(fake, tmp_path):
    reproduce(["alpha"], Context(tmp_path, seeds=3))
    reproduce(["alpha"], Context(tmp_path, seeds=4))
    assert fake.CALLS["alpha"] == 2
    reproduce(["alpha"], Context(tmp_path, quick=True, seeds=4))  # other mode: own store
    assert fake.CALLS["alpha"] == 3
    assert ResultStore(tmp_path, "full").stored_protocol("alpha")["seeds"] == 4


def test_changed_code_recomputes(fake, tmp_path, monkeypatch):
    from qopt.reproduce import store

    reproduce(["alpha"], Context(tmp_path))
    monkeypatch.setattr(store, "code_fingerprint", lambda: "0123456789abcdef")
    reproduce(["alpha"], Context(tmp_path))
    assert fake.CALLS["alpha"] == 2
    d = json.loads((tmp_path / "claims" / "full" / "alpha.json").read_text())
    assert d["code"] == "0123456789abcdef"


def test_fingerprint_covers_the_claim_code():
    from qopt.reproduce.store import code_fingerprint

    fp = code_fingerprint()
    assert len(fp) == 16 and fp == code_fingerprint()


def test_a_failing_claim_is_reported_and_the_others_run(fake, tmp_path):
    fake.BEHAVIOUR["beta"] = "raise"
    out = reproduce(None, Context(tmp_path))
    assert out[0].result is not None and out[1].result is None
    assert "beta broke" in out[1].error
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["claims"][1]["error"] and rep["claims"][1]["result"] is None
    assert "not computed" in (tmp_path / "REPORT.md").read_text()
    # the failed claim is not stored: the next invocation runs it again
    fake.BEHAVIOUR["beta"] = "ok"
    reproduce(None, Context(tmp_path))
    assert fake.CALLS == {"alpha": 1, "beta": 2}


def test_unselected_stored_claims_appear_as_stored(fake, tmp_path):
    reproduce(["beta"], Context(tmp_path))
    out = reproduce(["alpha"], Context(tmp_path))
    assert [o.spec.name for o in out] == ["alpha", "beta"]
    assert out[1].stale and out[1].reused and not out[0].stale
    assert fake.CALLS == {"alpha": 1, "beta": 1}


def test_unknown_claim_raises(fake, tmp_path):
    with pytest.raises(ValueError, match="unknown claim.*known: alpha, beta"):
        reproduce(["gamma"], Context(tmp_path))


def test_store_round_trip_and_damaged_file(fake, tmp_path):
    st = ResultStore(tmp_path, "full")
    res = fake.SPECS["alpha"].run(Context(tmp_path), {})
    st.save("alpha", {"a": (1, 2), "x": float("nan")}, res, 1.5)
    got = st.load("alpha", {"a": [1, 2], "x": None})
    assert got == (res, 1.5) and ClaimResult.from_dict(res.to_dict()) == res
    assert st.load("alpha", {"a": [1, 3], "x": None}) is None
    st.path("alpha").write_text("{not json")
    assert st.load("alpha", {"a": [1, 2]}) is None
    assert not list(st.dir.glob(".*.tmp"))
    with pytest.raises(ValueError, match="mode"):
        ResultStore(tmp_path, "slow")


def test_report_escapes_markdown_and_marks_smoke(fake, tmp_path):
    reproduce(["alpha"], Context(tmp_path, quick=True))
    md = (tmp_path / "REPORT.md").read_text()
    assert "SMOKE RUN" in md and "reproduced (smoke run)" in md
    assert "y\\|z" in md and "v\\*" in md  # table pipe and emphasis star escaped
    assert "## How verdicts are decided" in md


def test_context_validates():
    with pytest.raises(ValueError, match="workers"):
        Context("x", workers=0)
    with pytest.raises(ValueError, match="seeds"):
        Context("x", seeds=0)
    assert Context("x").n_seeds() == 5 and Context("x", quick=True).n_seeds() == 2
