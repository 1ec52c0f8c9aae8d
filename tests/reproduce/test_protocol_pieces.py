"""The scaled released schedules and the numbers read from a run's result.json."""

import math

import pytest

from qopt.reproduce.papers_protocol import LAM_MAX, binaryrelax_args, multistep, phase2_epoch
from qopt.reproduce.run_metrics import (
    bn_recalibrated,
    final_acc,
    final_train_loss,
    last_k_mean,
    plateau,
    raw_final_acc,
)


def test_scaling_at_200_epochs_is_the_released_schedule():
    assert multistep(200) == {"schedule": "multistep", "milestones": [80, 140], "gamma": 0.1}
    assert phase2_epoch(200) == 150
    br = binaryrelax_args(200)
    assert br["growth"] == pytest.approx(1.04, abs=1e-6) and br["phase2_at"] == 150
    assert LAM_MAX == pytest.approx(358.92, abs=0.01)


@pytest.mark.parametrize("e", [1, 2, 3, 6, 7, 20, 40])
def test_scaled_schedules_are_valid_for_any_length(e):
    from qopt.train.schedules import check_schedule

    m = multistep(e)
    check_schedule(m["schedule"], e, m["milestones"], m["gamma"])
    p = phase2_epoch(e)
    assert 1 <= p <= max(1, e)
    g = binaryrelax_args(e)["growth"]
    assert g ** p == pytest.approx(LAM_MAX, rel=1e-4)


def test_multistep_rejects_bad_epochs():
    with pytest.raises(ValueError, match="epochs"):
        multistep(0)


def result(losses, accs, final=None, raw=None):
    hist = [{"epoch": i, "train_loss": lo, "test_acc": a} for i, (lo, a) in
            enumerate(zip(losses, accs))]
    r = {"history": hist, "final": final or hist[-1]}
    if raw is not None:
        r["final_raw"] = raw
    return r


def test_run_metrics():
    r = result([1.0, 0.5, 0.4, 0.39, 0.388], [0.5, 0.7, 0.8, 0.82, 0.84])
    assert final_acc(r) == raw_final_acc(r) == 0.84 and not bn_recalibrated(r)
    assert last_k_mean(r, 2) == pytest.approx(0.83) and last_k_mean(r, 99) == pytest.approx(0.732)
    assert final_train_loss(r) == 0.388
    ok, rel = plateau(r, frac=0.2, rel_tol=0.05)  # last epoch vs the one before: -0.5%
    assert ok and rel == pytest.approx(-0.002 / 0.39)
    ok, rel = plateau(r, frac=0.6, rel_tol=0.05)  # 0.5 -> 0.388 over 3 epochs: -22%
    assert not ok
    rr = result([1.0, 0.5], [0.5, 0.6], final={"test_acc": 0.7, "train_loss": 0.4},
                raw={"test_acc": 0.6})
    assert bn_recalibrated(rr) and final_acc(rr) == 0.7 and raw_final_acc(rr) == 0.6
    assert math.isnan(plateau(result([1.0], [0.5]))[1])
    # a trainer that always writes final_raw and flags the re-estimation in final
    flagged = result([1.0], [0.6], final={"test_acc": 0.6, "bn_recalibrated": False},
                     raw={"test_acc": 0.6})
    assert not bn_recalibrated(flagged)
    flagged["final"]["bn_recalibrated"] = True
    assert bn_recalibrated(flagged)
    with pytest.raises(ValueError, match="k must"):
        last_k_mean(r, 0)
    with pytest.raises(ValueError, match="final"):
        final_acc({"history": []})
