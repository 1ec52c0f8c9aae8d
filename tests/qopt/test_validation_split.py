"""Item 1 and 2 of issue 19: every data set has train / validation / test, the validation split
is carved deterministically from the training data (``val_frac``, ``val_seed``, both part of
the run's identity), the model never trains on it, runs log validation metrics, the best epoch
is chosen on validation; a user's own data function ``package.module:function``."""

import pytest
import torch

from qopt.data import DataBundle, carve_validation, split_indices
from qopt.train import train
from qopt.train.config import TrainConfig
from qopt.train.finish import best_epoch
from qopt.train.io import read_json
from qopt.train.record import run_record

TINY = dict(dataset="tests.qopt.user_data:blobs", model="mlp", model_args={"hidden": [8]},
            epochs=2, batch_size=64, lr=0.05, log_every=0, diag_every=0, num_threads=1)


@pytest.mark.parametrize("n,frac", [(50000, 0.1), (1437, 0.1), (10, 0.5), (3, 0.01)])
def test_split_is_a_partition_of_the_stated_size(n, frac):
    tr, va = split_indices(n, frac, 0)
    assert sorted(torch.cat([tr, va]).tolist()) == list(range(n))  # disjoint, covers all
    assert va.numel() == min(n - 1, max(1, round(frac * n)))
    assert torch.equal(va, va.sort().values) and torch.equal(tr, tr.sort().values)
    if n == 50000:
        assert va.numel() == 5000  # CIFAR: the usual 5000 of 50000


def test_split_depends_on_val_seed_only():
    a, b = split_indices(1000, 0.1, 0), split_indices(1000, 0.1, 0)
    assert torch.equal(a[1], b[1])
    torch.manual_seed(123)  # the global generator plays no part
    assert torch.equal(split_indices(1000, 0.1, 0)[1], a[1])
    assert not torch.equal(split_indices(1000, 0.1, 1)[1], a[1])


def test_carved_bundle_holds_exactly_the_training_samples():
    x = torch.arange(40.0).reshape(20, 2)
    y = torch.arange(20)
    b = DataBundle("t", x, y, x[:3], y[:3], num_classes=20)
    c = carve_validation(b, 0.25, 7)
    assert c.x_val.shape[0] == 5 and c.x_train.shape[0] == 15
    assert sorted(torch.cat([c.y_train, c.y_val]).tolist()) == list(range(20))
    assert torch.equal(c.x_train[:, 0] / 2, c.y_train.float())  # rows stay with their labels
    assert carve_validation(c, 0.5, 0) is c  # a bundle with its own split keeps it


@pytest.mark.parametrize("frac", [0.0, 1.0, -0.1, True, "0.1"])
def test_bad_val_frac_is_refused(frac):
    with pytest.raises(ValueError, match="val_frac"):
        split_indices(100, frac, 0)


def test_val_fields_are_checked_and_part_of_the_identity():
    cfg = TrainConfig.from_dict(TINY).validate()
    with pytest.raises(ValueError, match="val_frac"):
        cfg.replace(val_frac=1.0).validate()
    with pytest.raises((ValueError, TypeError), match="val_seed"):
        cfg.replace(val_seed=-1).validate()
    h = {run_record(cfg.replace(**kw))["config_hash"]
         for kw in ({}, {"val_frac": 0.2}, {"val_seed": 1})}
    assert len(h) == 3


def test_user_dataset_errors_name_the_field():
    for spec, match in (("tests.qopt.user_data:nope", "has no attribute"),
                        ("tests/qopt/user_data.py:blobs", "not a file path"),
                        ("no_such_pkg_qopt.mod:f", "cannot import")):
        with pytest.raises(ValueError, match=f"dataset .*{match}|{match}"):
            TrainConfig.from_dict({**TINY, "dataset": spec}).validate()


def test_user_dataset_that_returns_no_bundle_is_refused(tmp_path):
    cfg = TrainConfig.from_dict({**TINY, "dataset": "tests.qopt.user_data:not_a_bundle"})
    with pytest.raises(ValueError, match="not a qopt.data.DataBundle"):
        train(cfg, tmp_path / "r")


def test_best_epoch_reads_validation_only():
    hist = [{"epoch": 0, "val_acc": 0.5, "val_loss": 1.0, "test_acc": 0.99, "test_loss": 0.1},
            {"epoch": 1, "val_acc": 0.7, "val_loss": 0.9, "test_acc": 0.10, "test_loss": 3.0},
            {"epoch": 2, "val_acc": 0.7, "val_loss": 0.8, "test_acc": 0.20, "test_loss": 2.0}]
    b = best_epoch(hist)
    assert b["best_epoch"] == 1 and b["test_acc_at_best_val"] == 0.10  # tie: the earliest
    reg = [{**h, "val_acc": None, "test_acc": None} for h in hist]
    assert best_epoch(reg)["best_epoch"] == 2  # regression: the lowest validation loss


def test_run_logs_validation_and_never_trains_on_it(tmp_path):
    """A run records validation metrics per epoch and at the end (after BN re-estimation for a
    quantized run); its training split excludes the validation part; and relabelling the
    validation (or test) split changes no weight: the model never trains on either."""
    cfg = TrainConfig.from_dict({**TINY, "method": "binaryconnect", "weights": "binary",
                                 "model": "tests.qopt.user_model:TinyNet", "model_args": {},
                                 "dataset_args": {"own_val": True}})
    res = train(cfg, tmp_path / "a")
    assert all(h["val_acc"] is not None and h["val_loss"] is not None for h in res["history"])
    assert res["final"]["bn_recalibrated"] and res["final"]["val_acc"] is not None
    assert res["best_epoch"] in (0, 1) and "best_test_acc" not in res
    rec = read_json(tmp_path / "a" / "config.json")["data"]
    assert (rec["n_train"], rec["n_val"], rec["n_test"]) == (180, 60, 60)
    sd = torch.load(tmp_path / "a" / "model.pt")
    for kw in ({"val_labels_shift": 1}, {"test_labels_shift": 2}):
        other = train(cfg.replace(dataset_args={"own_val": True, **kw}), tmp_path / str(kw))
        sd2 = torch.load(tmp_path / str(kw) / "model.pt")
        assert all(torch.equal(sd[k], sd2[k]) for k in sd)
        assert [h["train_loss"] for h in other["history"]] == \
            [h["train_loss"] for h in res["history"]]


def test_carved_split_run_counts(tmp_path):
    cfg = TrainConfig.from_dict({**TINY, "epochs": 1, "val_frac": 0.25})
    res = train(cfg, tmp_path / "r")
    rec = read_json(tmp_path / "r" / "config.json")["data"]
    assert (rec["n_train"], rec["n_val"], rec["val_frac"]) == (180, 60, 0.25)
    assert res["final"]["val_acc"] is not None and not res["final"]["bn_recalibrated"]
