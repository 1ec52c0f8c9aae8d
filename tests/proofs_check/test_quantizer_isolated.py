"""``qopt verify quantizer`` is hard to fool and never hangs: independently written quantizer
files with known defects fail the right check (exit 1) with a counterexample that shows the
defect; files that cannot be loaded exit 2; correct quantizers written with clamp idioms pass."""

from __future__ import annotations

import json
import re
import textwrap
import time

import numpy as np
import pytest

from proofs_check import verify_quantizer
from proofs_check.isolated import QuantizerLoadError, abnormal_budget
from qopt.cli import main
from theory import Binary, Ternary, project

EX = "12"  # hypothesis examples per check (plus the corpus and shrinking)

# --------------------------------------------------------------------------- the quantizers
DEFECTIVE = textwrap.dedent('''
    import os
    import sys

    import numpy as np

    print("a quantizer module that prints at import")

    def optimal_ternary(w):
        """Exact: keep the k largest |w|, k maximising (sum of them)^2 / k."""
        a = np.sort(np.abs(w))[::-1]
        s = np.cumsum(a)
        k = int(np.argmax(s * s / np.arange(1, a.size + 1))) + 1
        if s[k - 1] == 0:
            return np.zeros_like(w)
        keep = np.abs(w) >= a[k - 1]
        return np.where(keep, np.sign(w) * s[k - 1] / k, 0.0)

    def wrong_threshold(w):
        """Ternary with threshold 0.5 max|w| (not the optimal one)."""
        keep = np.abs(w) > 0.5 * np.abs(w).max()
        a = np.abs(w[keep]).mean() if keep.any() else 0.0
        return np.where(keep, np.sign(w) * a, 0.0)

    def wrong_scale(w):
        """Binary with alpha = max|w| instead of mean|w|."""
        return np.abs(w).max() * np.where(w >= 0, 1.0, -1.0)

    def no_zero_handling(w):
        """Binary via np.sign: sign(0) = 0 is not a binary level."""
        return np.abs(w).mean() * np.sign(w)

    def raises_on_zeros(w):
        """Like a published ternary quantizer: raises on the zero vector."""
        if not np.any(w):
            raise ValueError("cannot quantize an all-zero tensor")
        return optimal_ternary(w)

    def exits_inside(w):
        if w.size > 5:
            sys.exit(0)
        return optimal_ternary(w)

    def hard_exit(w):
        if w.size > 5:
            os._exit(0)
        return optimal_ternary(w)

    def never_returns(w):
        while True:
            pass

    def hangs_on_zeros(w):
        while not np.any(w):
            pass
        print("called", w.size)  # prints in fn must not disturb the protocol
        return optimal_ternary(w)
    ''')

CLAMPED = textwrap.dedent('''
    import numpy as np
    import torch

    def torch_binary_clamped(w):
        """Exact binary projection (alpha = mean|w|) per slice, with the clamp idiom: w = 0
        gives +-1e-38 (float32: below the smallest normal, a tie with 0)."""
        alpha = w.abs().mean(dim=-1, keepdim=True).clamp(min=1e-38)
        return torch.where(w >= 0, alpha, -alpha)

    def numpy_binary_clamped(w):
        alpha = np.maximum(np.abs(w).mean(), np.float32(1e-38)).astype(w.dtype)
        return np.where(w >= 0, alpha, -alpha).astype(w.dtype)

    def numpy_binary_half_clamped(w):
        """A real defect (half the optimal scale) behind the same clamp idiom."""
        alpha = np.maximum(0.5 * np.abs(w).mean(), np.float32(1e-38)).astype(w.dtype)
        return np.where(w >= 0, alpha, -alpha).astype(w.dtype)

    def ternary_guarded(w):
        """Exact ternary with guards against division by zero."""
        a = np.sort(np.abs(w))[::-1]
        s = np.cumsum(a)
        k = np.arange(1, a.size + 1)
        best = int(np.argmax(s * s / np.maximum(k, 1)))
        scale = s[best] / max(best + 1, 1)
        keep = (np.abs(w) >= a[best]) & (a[best] > 0)
        return np.clip(np.where(keep, np.sign(w) * scale, 0.0), -scale, scale)
    ''')


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("quantizers")
    (d / "defective.py").write_text(DEFECTIVE)
    (d / "clamped.py").write_text(CLAMPED)
    (d / "exit_at_import.py").write_text("import sys\nsys.exit(0)\ndef f(w):\n    return w\n")
    (d / "raise_at_import.py").write_text("raise RuntimeError('no GPU here')\n")
    (d / "syntax.py").write_text("def f(w:\n")
    (d / "hang_at_import.py").write_text("while True:\n    pass\n")
    return d


def run_cli(capsys, tmp_path, target, setspec, *extra):
    out = tmp_path / "rep.json"
    code = main(["verify", "quantizer", target, "--set", setspec, "--examples", EX,
                 "--json", str(out), *map(str, extra)])
    cap = capsys.readouterr()
    rep = json.loads(out.read_text()) if out.exists() else None
    return code, cap, rep


def checks(rep):
    return {c["name"]: c for c in rep["checks"]}


# --------------------------------------------------------------------------- defects
def test_exact_file_quantizer_passes(files, tmp_path, capsys):
    code, cap, rep = run_cli(capsys, tmp_path, f"{files}/defective.py:optimal_ternary",
                             "ternary")
    assert code == 0, cap.out
    assert "prints at import" not in cap.out  # the child's output is not the report's


@pytest.mark.parametrize("func,setspec,failing", [
    ("wrong_threshold", "ternary", "optimality"),
    ("wrong_scale", "binary", "optimality"),
    ("no_zero_handling", "binary", "membership"),
])
def test_wrong_answers_fail_their_check_exit_1(files, tmp_path, capsys, func, setspec, failing):
    code, cap, rep = run_cli(capsys, tmp_path, f"{files}/defective.py:{func}", setspec)
    assert code == 1, cap.out + cap.err
    c = checks(rep)[failing]
    assert c["status"] == "FAIL" and checks(rep)["contract"]["status"] == "pass"
    w = np.array(c["counterexample"], dtype=float)
    qset = Ternary() if setspec == "ternary" else Binary()
    import importlib.util

    spec = importlib.util.spec_from_file_location("d", files / "defective.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    q = getattr(mod, func)(w)
    if failing == "optimality":  # the counterexample really is one
        assert np.sum((w - q) ** 2) > np.sum(project(w, qset).dist2) * (1 + 1e-6)
    else:
        assert np.any(w == 0) and np.any(q == 0)


def test_raising_on_zeros_is_a_contract_failure_at_the_zero_vector(files, tmp_path, capsys):
    code, cap, rep = run_cli(capsys, tmp_path, f"{files}/defective.py:raises_on_zeros",
                             "ternary")
    assert code == 1
    c = checks(rep)
    assert c["contract"]["status"] == "FAIL"
    assert "cannot quantize an all-zero tensor" in c["contract"]["detail"]
    assert c["contract"]["counterexample"] == [0.0]
    for name in ("membership", "optimality", "idempotence", "prox_value", "determinism"):
        assert c[name]["status"] == "pass", (name, c[name])  # exact elsewhere: the other checks ran


@pytest.mark.parametrize("func,why", [("exits_inside", "sys.exit(0)"),
                                      ("hard_exit", "exited with status 0")])
def test_exit_inside_the_function_is_a_failure_not_a_pass(files, tmp_path, capsys, func, why):
    code, cap, rep = run_cli(capsys, tmp_path, f"{files}/defective.py:{func}", "ternary")
    assert code == 1, cap.out + cap.err
    c = checks(rep)["contract"]
    assert c["status"] == "FAIL" and why in c["detail"]
    assert len(c["counterexample"]) == 6  # exits on more than 5 entries: 6 is minimal
    assert checks(rep)["optimality"]["status"] == "pass"


def test_a_function_that_never_returns_cannot_hang_the_verifier(files, tmp_path, capsys,
                                                               monkeypatch):
    import proofs_check.isolated as iso

    monkeypatch.setattr(iso, "ABNORMAL_SECONDS", 3.0)  # the budget (default 30 s), for speed
    t0 = time.monotonic()
    code, cap, rep = run_cli(capsys, tmp_path, f"{files}/defective.py:never_returns", "binary",
                             "--timeout", "0.3")
    took = time.monotonic() - t0
    assert code == 1
    c = checks(rep)
    assert c["contract"]["status"] == "FAIL" and "within 0.3 s" in c["contract"]["detail"]
    assert c["optimality"]["status"] == "skip"  # nothing could be evaluated
    # time lost to timeouts and restarts is bounded, then calls are skipped
    assert took < abnormal_budget(0.3) + 60, took


def test_hanging_on_one_input_fails_there_and_the_rest_still_runs(files, tmp_path, capsys):
    code, cap, rep = run_cli(capsys, tmp_path, f"{files}/defective.py:hangs_on_zeros",
                             "ternary", "--timeout", "2")
    assert code == 1
    c = checks(rep)
    assert c["contract"]["status"] == "FAIL" and "timeout" in c["contract"]["detail"]
    assert not np.any(c["contract"]["counterexample"])
    assert c["optimality"]["status"] == "pass" and c["membership"]["status"] == "pass"


@pytest.mark.parametrize("target,msg", [
    ("exit_at_import.py:f", "called sys.exit(0)"),
    ("raise_at_import.py:f", "RuntimeError: no GPU here"),
    ("syntax.py:f", "SyntaxError"),
    ("defective.py:nope", "has no attribute 'nope'"),
    ("missing.py:f", "does not exist"),
])
def test_a_file_that_cannot_be_loaded_exits_2(files, tmp_path, capsys, target, msg):
    code, cap, rep = run_cli(capsys, tmp_path, f"{files}/{target}", "binary")
    assert code == 2 and rep is None
    err = cap.err.strip()
    assert msg in err and len(err.splitlines()) == 1, err


def test_an_import_that_never_finishes_exits_2(files, tmp_path, capsys):
    from proofs_check.isolated import IsolatedCaller

    with pytest.raises(QuantizerLoadError, match="did not finish within 2 s"):
        IsolatedCaller(f"{files}/hang_at_import.py:f", "numpy", "float64", None, timeout=1,
                       load_timeout=2)


# --------------------------------------------------------------------------- clamp idioms
@pytest.mark.parametrize("func,args", [
    ("torch_binary_clamped", ["--backend", "torch"]),
    ("torch_binary_clamped", ["--backend", "torch", "--axis", "0"]),
    ("numpy_binary_clamped", ["--dtype", "float32"]),
])
def test_correct_clamped_quantizers_pass(files, tmp_path, capsys, func, args):
    code, cap, rep = run_cli(capsys, tmp_path, f"{files}/clamped.py:{func}", "binary", *args)
    assert code == 0, cap.out


def test_guarded_ternary_passes(files, tmp_path, capsys):
    code, cap, rep = run_cli(capsys, tmp_path, f"{files}/clamped.py:ternary_guarded", "ternary")
    assert code == 0, cap.out


def test_clamped_quantizer_with_a_real_defect_points_at_the_defect(files, tmp_path, capsys):
    """The issue's case: the 1e-38-at-zero output must not make [0] the counterexample of every
    check; the counterexamples show the real error (half the optimal scale)."""
    code, cap, rep = run_cli(capsys, tmp_path, f"{files}/clamped.py:numpy_binary_half_clamped",
                             "binary", "--dtype", "float32")
    assert code == 1
    c = checks(rep)
    failed = [n for n in c if c[n]["status"] == "FAIL"]
    # half the scale: not optimal, not orthogonal, not idempotent (fn(q) = q/2), not a prox
    assert {"optimality", "orthogonality", "prox_value", "idempotence"} <= set(failed), failed
    assert {"contract", "membership", "determinism", "scale_equivariance"}.isdisjoint(failed)
    for n in failed:
        assert np.any(np.array(c[n]["counterexample"], dtype=float) != 0), (n, c[n])


def test_the_same_clamp_in_float64_is_a_real_deviation(files):
    """1e-38 is far above float64's resolution: reported, with the zero input it comes from."""
    report = verify_quantizer(f"{files}/clamped.py:numpy_binary_clamped", Binary(),
                              max_examples=8)
    c = report["optimality"]
    assert c.status == "FAIL" and not np.any(c.counterexample)


def test_in_process_api_reports_systemexit_instead_of_exiting():
    def exits(w):
        raise SystemExit(0)

    report = verify_quantizer(exits, Binary(), max_examples=5)
    assert report["contract"].status == "FAIL"
    assert "sys.exit(0)" in report["contract"].detail
    with pytest.raises(ValueError, match="timeout needs"):
        verify_quantizer(exits, Binary(), max_examples=5, timeout=1)


# --------------------------------------------------------------------------- resolution ties
def test_ties_only_below_the_smallest_normal_number():
    """Both values <= tiny: a tie (0 at the dtype's resolution). Normal numbers are compared with
    r alone, at every scale: the floor never loosens them (float16's tiny is 6.1e-5, yet 0.002
    vs 0.00205 still differs)."""
    from proofs_check.adapter import QuantizerCaller
    from proofs_check.quantizer_checks import _Ctx
    from proofs_check.tolerance import Tolerance

    f32 = Tolerance.for_dtype("float32", 8)
    c = _Ctx(QuantizerCaller(lambda w: w, "numpy", "float32", None), Binary(), None, f32.rel,
             f32.tiny)
    assert c.close(np.zeros(3), np.full(3, 1e-38), np.zeros(3)) == (0.0, True)
    assert not c.close(np.zeros(3), np.full(3, 1e-37), np.zeros(3))[1]
    f16 = Tolerance.for_dtype("float16", 8)
    c16 = _Ctx(QuantizerCaller(lambda w: w, "numpy", "float16", None), Binary(), None, f16.rel,
               f16.tiny)
    assert f16.tiny > 6e-5
    assert not c16.close(np.array([0.002]), np.array([0.002]), np.array([0.00205]))[1]
    assert c16.close(np.array([0.002]), np.array([0.002]), np.array([0.002000001]))[1]
    assert f32.tie(np.array([1e-38, 1e-30]), np.array([0.0, 0.0])).tolist() == [True, False]


# --------------------------------------------------------------------------- containment
HOSTILE = textwrap.dedent('''
    import json
    import os
    import struct
    import time

    import numpy as np

    PROTOCOL_FD = 4  # the child's duplicate of its original stdout (proofs_check._child)

    def exact_binary(w):
        a = np.abs(w).mean()
        return np.where(w >= 0, a, -a)

    def forks(w):
        """Issue 18: both processes answer."""
        os.fork()
        return exact_binary(w)

    def setsid_sleepers(w):
        """Issue 18: forked copies leave the session and sleep (left ~280 processes alive)."""
        if os.fork() == 0:
            os.setsid()
            os.fork()
            time.sleep(1000)
        return exact_binary(w)

    def double_fork_orphan(w):
        """A daemon: the middle process exits, the grandchild is an orphan in its own session."""
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(1000)
            os._exit(0)
        return exact_binary(w)

    def forges_header(w):
        head = b"[1, 2]"
        os.write(PROTOCOL_FD, struct.pack(">II", len(head), 0) + head)
        return exact_binary(w)

    def forges_answer(w):
        q = exact_binary(w)
        head = json.dumps({"ok": True, "modified": False, "scale": None}).encode()
        os.write(PROTOCOL_FD, struct.pack(">II", len(head), q.nbytes) + head + q.tobytes())
        return q

    def answers_twice(w):
        """A perfect forged answer (sequence number and pid read from the caller's frame) ahead
        of the real one: the real one is then a second answer."""
        import sys
        q = exact_binary(w)
        f = sys._getframe(1)
        while "tag" not in f.f_locals:
            f = f.f_back
        head = json.dumps({**f.f_locals["tag"], "ok": True, "modified": False,
                           "scale": None}).encode()
        os.write(PROTOCOL_FD, struct.pack(">II", len(head), q.nbytes) + head + q.tobytes())
        return q
    ''')


def _ours() -> list[int]:
    """Processes that carry this test process's verifier tag (alive or zombie), and zombie
    children of this process."""
    import os

    from proofs_check.isolated import TAG_ENV

    prefix = f"{TAG_ENV}={os.getpid()}-".encode()
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open(f"/proc/{d}/environ", "rb") as f:
                env = f.read().split(b"\0")
            with open(f"/proc/{d}/stat", "rb") as f:
                st = f.read().rpartition(b")")[2].split()
        except OSError:
            continue
        if any(e.startswith(prefix) for e in env) or (st[0] == b"Z" and
                                                      int(st[1]) == os.getpid()):
            found.append(int(d))
    return found


@pytest.fixture
def hostile(tmp_path_factory, monkeypatch):
    import proofs_check.isolated as iso

    if not __import__("sys").platform.startswith("linux"):
        pytest.skip("process containment is checked through /proc (Linux)")
    # every failing call restarts the child: bound the time lost (default max(30 s, 5 timeouts))
    monkeypatch.setattr(iso, "ABNORMAL_SECONDS", 3.0)
    monkeypatch.setattr(iso, "ABNORMAL_TIMEOUTS", 1)
    d = tmp_path_factory.mktemp("hostile")
    (d / "hostile.py").write_text(HOSTILE)
    assert _ours() == []
    return d


@pytest.mark.parametrize("func,why", [
    ("forks", "still existed after it returned"),
    ("setsid_sleepers", "still existed after it returned"),
    ("double_fork_orphan", "still existed after it returned"),
    ("forges_header", r"broke the protocol \(a reply header that is a list\)"),
    ("forges_answer", r"broke the protocol \(a reply for request None"),
    ("answers_twice", "broke the protocol|bytes beyond its answer"),
])
def test_forking_forging_or_leaving_processes_fails_contract_and_nothing_survives(
        hostile, tmp_path, capsys, func, why):
    """Issue 18: a forking quantizer ended with 'cannot reshape array of size 2 into shape
    (3,)', exit 2; one whose forked copies setsid() and sleep left ~280 processes alive."""
    code, cap, rep = run_cli(capsys, tmp_path, f"{hostile}/hostile.py:{func}", "binary",
                             "--timeout", "5")
    assert code == 1, cap.out + cap.err
    assert "Traceback" not in cap.err and "cannot reshape" not in cap.out + cap.err
    c = checks(rep)["contract"]
    assert c["status"] == "FAIL" and re.search(why, c["detail"]), c["detail"]
    assert c["counterexample"] is not None and len(c["counterexample"]) >= 1  # the input
    assert _ours() == [], "processes of the quantizer outlived the verifier"


def test_the_caller_restores_the_subreaper_and_sweeps_on_close(hostile):
    import ctypes

    from proofs_check.adapter import QuantizerError
    from proofs_check.isolated import IsolatedCaller

    def subreaper() -> int:
        out = ctypes.c_int(-1)
        ctypes.CDLL(None).prctl(37, ctypes.byref(out), 0, 0, 0)  # PR_GET_CHILD_SUBREAPER
        return out.value

    before = subreaper()
    with IsolatedCaller(f"{hostile}/hostile.py:setsid_sleepers", "numpy", "float64", None,
                        timeout=5) as caller:
        assert subreaper() == 1
        with pytest.raises(QuantizerError, match="still existed") as exc:
            caller(np.array([1.0, -2.0, 3.0]))
        assert exc.value.kind == "contract"
        assert _ours() == []  # killed at once, not only at close
        honest = IsolatedCaller(f"{hostile}/hostile.py:exact_binary", "numpy", "float64", None)
        assert honest(np.array([1.0, -3.0])).q.tolist() == [2.0, -2.0]  # no false alarm
        honest.close()
    assert subreaper() == before and _ours() == []
