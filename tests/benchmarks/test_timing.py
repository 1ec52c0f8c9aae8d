"""The shared timer: it measures what it claims, calibrates, and validates its arguments."""

from __future__ import annotations

import time

import pytest

from benchmarks.timing import Timing, machine_info, time_call, time_interleaved


def test_time_call_measures_at_least_the_sleep():
    t = time_call(lambda: time.sleep(0.003), warmup=0, repeats=3, min_sample_s=0.0)
    assert isinstance(t, Timing) and t.repeats == 3 and t.inner == 1
    # sleep never returns early; the upper bound is loose (shared CI machines)
    assert 0.003 <= t.median_s < 0.5
    assert t.q25_s <= t.median_s <= t.q75_s


def test_calibration_batches_fast_calls_and_counts_are_exact():
    calls = {"a": 0, "b": 0}

    def make(k):
        def f():
            calls[k] += 1
        return f

    res = time_interleaved({"a": make("a"), "b": make("b")}, warmup=2, repeats=4,
                           min_sample_s=1e-3)
    for k in ("a", "b"):
        assert res[k].inner > 1  # a no-op is far below 1 ms
        # warm-up + one calibration call + repeats samples of `inner` calls each
        assert calls[k] == 2 + 1 + 4 * res[k].inner
        assert res[k].median_s * res[k].inner < 0.1


@pytest.mark.parametrize("kw, match", [({"repeats": 0}, "repeats"), ({"warmup": -1}, "warmup"),
                                       ({"min_sample_s": float("nan")}, "min_sample_s"),
                                       ({"repeats": 1.5}, "repeats")])
def test_bad_arguments_are_rejected(kw, match):
    with pytest.raises(ValueError, match=match):
        time_call(lambda: None, **kw)


def test_bad_functions_are_rejected():
    with pytest.raises(TypeError, match="callable"):
        time_call(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="non-empty"):
        time_interleaved({})


def test_machine_info_names_the_software():
    info = machine_info()
    for key in ("host_cpu", "cpu_count", "torch", "numpy", "python", "cuda", "date_utc"):
        assert key in info
    assert isinstance(info["cuda"], bool)
