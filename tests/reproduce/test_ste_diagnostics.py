"""The 2-bit ReLU-gap diagnostics: activation statistics of a trained run against a direct
computation, and the computed attribution of the gap to factors."""

import numpy as np
import pytest
import torch

from qopt.reproduce.activation_stats import quant_relu_stats
from qopt.reproduce.claims.ste_table1 import FACTORS, _gap_findings
from qopt.reproduce.comparison import Comparison
from qopt.train.config import TrainConfig
from qopt.train.trainer import train


def test_activation_stats_match_a_direct_computation(tmp_path):
    cfg = TrainConfig.from_dict({"dataset": "mnist1d", "dataset_args": {"num_samples": 300},
                                 "model": "mlp", "model_args": {"hidden": [16, 12]},
                                 "act_bits": 2, "act_forward": "round", "epochs": 1,
                                 "batch_size": 60, "log_every": 0, "diag_every": 0})
    train(cfg, tmp_path / "run", progress=False)
    st = quant_relu_stats(tmp_path / "run", n=200)
    assert len(st) == 2
    sd = torch.load(tmp_path / "run" / "model.pt", weights_only=True)
    from qopt.train.data import load_run_data

    x = load_run_data(cfg).x_train[:200].double()  # the run's training split
    pre = x @ sd["net.1.weight"].double().T + sd["net.1.bias"].double()  # first Linear
    alpha = float(st[0]["alpha"])
    assert st[0]["std"] == pytest.approx(float(pre.std()), rel=1e-9)
    assert st[0]["above"] == pytest.approx(float((pre > 3 * alpha).double().mean()))
    assert st[0]["active"] == pytest.approx(float((pre > 0).double().mean()))
    assert all(0 <= s["above"] <= s["active"] <= 1 for s in st)
    with pytest.raises(ValueError, match="not a finished run"):
        quant_relu_stats(tmp_path / "nothing")


def comp(name, gap):
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    relu = {s: 0.9 + 0.002 * rng.standard_normal() for s in range(3)}
    clip = {s: relu[s] + (0.2 if gap else 0.0) + 0.001 * rng.standard_normal()
            for s in range(3)}
    return Comparison(f"2-bit diagnostic: {name}", "clipped", "ReLU", clip, relu,
                      kind="describe", scale=100)


def act(std_r, std_c):
    return {"relu": {"std": std_r, "above": 0.3}, "clipped_relu": {"std": std_c, "above": 0.05}}


def test_gap_is_attributed_to_the_separating_factor():
    diag = [({**FACTORS}, comp("reference", False), act(1.0, 1.0)),
            ({**FACTORS, "forward": "ceil"}, comp("ceil", False), act(1.0, 1.0)),
            ({**FACTORS, "model": "cnn2d", "BN": "scale+shift"}, comp("cnn2d", True),
             act(20.0, 1.0)),
            ({**FACTORS, "model": "cnn2d", "BN": "scale+shift", "forward": "ceil"},
             comp("cnn2d ceil", True), act(27.0, 1.1))]
    text = " ".join(_gap_findings(None, diag))
    assert "gap occurs exactly when BN = scale+shift and model = cnn2d" in text
    assert "standard deviation of 24" in text and "Reading:" in text
    # no separating factor: the sentence says so
    diag[1] = ({**FACTORS, "forward": "ceil"}, comp("ceil", True), act(1.0, 1.0))
    text = " ".join(_gap_findings(None, diag))
    assert "No single factor separates" in text and "has nothing in common" in text
    # no arm with a gap
    assert "no diagnostic arm" in " ".join(_gap_findings(None, [diag[0]]))


def test_no_reading_without_a_scale_drift():
    diag = [({**FACTORS}, comp("reference", False), act(1.0, 1.0)),
            ({**FACTORS, "forward": "ceil"}, comp("ceil", True), act(1.1, 1.0))]
    text = " ".join(_gap_findings(None, diag))
    assert "exactly when forward = ceil" in text and "Reading:" not in text

