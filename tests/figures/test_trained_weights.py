"""Trained-model weights for the figures: from a study's float run, else a tiny trained CNN."""

from __future__ import annotations

import json

import numpy as np
import torch

from figures.trained_weights import train_tiny_model, trained_weights, weights_from_study


def _fake_run(root, name, method, state):
    run = root / "runs" / name
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"method": method}))
    torch.save(state, run / "model.pt")


def test_weights_from_study_picks_the_float_run_and_weight_matrices(tmp_path):
    conv = torch.randn(4, 2, 3, 3)
    _fake_run(tmp_path, "a_binaryrelax", "binaryrelax", {"w.weight": torch.ones(3, 3)})
    _fake_run(tmp_path, "b_float", "float", {
        "conv.weight": conv, "bn.weight": torch.ones(4), "bn.running_mean": torch.zeros(4),
        "fc.weight": torch.randn(10, 4), "fc.bias": torch.zeros(10),
        "steps": torch.tensor([[1, 2]])})  # integer tensor: not a weight
    weights, desc = weights_from_study(tmp_path)
    assert set(weights) == {"conv.weight", "fc.weight"}  # >= 2-D float tensors named *weight
    np.testing.assert_array_equal(weights["conv.weight"], conv.double().numpy())
    assert weights["conv.weight"].dtype == np.float64
    assert "b_float" in desc
    assert trained_weights(tmp_path)[1] == desc


def test_no_float_run_means_none(tmp_path):
    assert weights_from_study(tmp_path / "missing") is None
    _fake_run(tmp_path, "bc", "binaryconnect", {"w.weight": torch.ones(3, 3)})
    assert weights_from_study(tmp_path) is None


def test_tiny_model_trains_and_is_deterministic():
    threads = torch.get_num_threads()
    w1, acc1 = train_tiny_model(epochs=2)
    w2, acc2 = train_tiny_model(epochs=2)
    assert torch.get_num_threads() == threads  # restored
    assert set(w1) == {"features.0.weight", "features.4.weight", "classifier.weight"}
    for k in w1:
        np.testing.assert_array_equal(w1[k], w2[k])  # seeded, single-threaded: bit-identical
    assert acc1 == acc2 and acc1 > 0.3  # well above chance (0.1) after two epochs
