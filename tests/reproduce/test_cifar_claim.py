"""The 'cifar' claim: listed as not run without data; with a (tiny, fake) CIFAR-10 directory
the three presets run staged from float in --quick mode and the report sets our numbers beside
the headline ones."""

import io
import json
import pickle

import numpy as np

from qopt.cli import main
from qopt.reproduce.claim import Context
from qopt.reproduce.claims import cifar


def write_cifar10(root, n=8):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(folder / name, "wb") as fh:
            pickle.dump({b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
                         b"labels": rng.integers(0, 10, size=n).tolist()}, fh)


def test_presets_become_staged_experiments(tmp_path):
    ctx = Context(tmp_path, data_dir=str(tmp_path), stream=io.StringIO())
    exps = {p: cifar.experiment(ctx, p) for p in cifar.PRESETS}
    vgg = exps["cifar10-vgg11"]
    assert [a.keys for a in vgg.arms] == [{"method": "binaryconnect", "weights": "binary"},
                                          {"method": "binaryrelax", "weights": "binary"}]
    assert vgg.arms[1].overrides["method_args"]["phase2_at"] == 150
    assert vgg.float_config["epochs"] == 200 and "weights" not in vgg.float_config
    bcgd = exps["cifar10-resnet20-bcgd"]
    assert "act_bits" not in bcgd.float_config and bcgd.base["act_bits"] == 4
    uniq = exps["cifar10-resnet20-uniq"]
    assert [a.keys["weights"] for a in uniq.arms] == ["uniq:2", "uniq:4"]
    assert all(e.base["data_dir"] == str(tmp_path) for e in exps.values())
    assert cifar.protocol(Context(tmp_path)) == {"mode": "full", "data_dir": None}


def test_cifar_quick_with_a_data_directory(tmp_path, capsys):
    write_cifar10(tmp_path / "data")
    out = tmp_path / "rep"
    assert main(["reproduce", "cifar", "--quick", "--workers", "1", "--data-dir",
                 str(tmp_path / "data"), "--out", str(out)]) == 0
    rep = json.loads((out / "report.json").read_text())
    res = rep["claims"][0]["result"]
    assert res["verdict"]["status"] in ("reproduced", "refuted", "inconclusive")
    rows = res["tables"][0]["rows"]
    assert any(r[1] == "binaryrelax binary" and r[4] == "89.21" for r in rows)
    assert any(r[0] == "cifar10-resnet20-uniq" and r[1] == "uniq uniq:4" for r in rows)
    assert "--quick: 1 epoch per stage." in (out / "REPORT.md").read_text()
