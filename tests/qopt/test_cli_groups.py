"""End to end through the CLI (issue 21 item 8): training at a group-wise and an affine set,
then ``qopt verify run`` on the run (exit 0: every invariant passes, final_projection per block),
and the packed export of the trained model reproduces model.pt bit for bit."""

from __future__ import annotations

import pytest
import torch

from qopt.cli import main


@pytest.mark.parametrize("method,weights,g", [("bcgd", "int:4", 16), ("parq", "uint:2", 32),
                                              ("binaryrelax", "nf4", 8)])
def test_train_and_verify_at_group_and_affine_sets(tmp_path, method, weights, g, capsys):
    out = tmp_path / "run"
    rc = main(["train", "--method", method, "--weights", weights, "--group-size", str(g),
               "--axis", "0", "--epochs", "1", "--model-args", "channels=4,depth=1",
               "--dataset-args", "num_samples=600", "--diag-every", "5", "--no-progress",
               "--out", str(out)])
    assert rc == 0
    cfg = (out / "config.json").read_text()
    assert f'"group_size": {g}' in cfg
    capsys.readouterr()
    assert main(["verify", "run", str(out)]) == 0
    text = capsys.readouterr().out
    assert "final_projection      pass" in text and "final_membership      pass" in text
    model = torch.load(out / "model.pt", weights_only=True)
    exported = torch.load(out / "quantized.pt", weights_only=True)
    assert set(exported) <= set(model)
