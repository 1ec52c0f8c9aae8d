"""No user-supplied file can run code: CIFAR batches, --init-from files, checkpoints and quantized
exports, each tried with a REAL payload (a control load proves it fires), through the API and the
CLI (one line on stderr, exit 2, marker never created)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from qopt.cli import main
from tests.safety.payloads import (
    control_load,
    evil_checkpoint,
    evil_pickle,
    evil_torch,
)

CIFAR10 = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def _cifar_dir(root, evil_marker=None, which="data_batch_3"):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name in CIFAR10:
        if evil_marker is not None and name == which:
            (folder / name).write_bytes(evil_pickle(evil_marker))
        else:
            with open(folder / name, "wb") as fh:
                pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]}, fh,
                            protocol=2)
    return folder


def _one_line_exit_2(capsys, argv, *fragments):
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for f in fragments:
        assert f in err, err
    return err


def test_control_the_payloads_are_real(tmp_path):
    m1, m2 = tmp_path / "m1", tmp_path / "m2"
    (tmp_path / "p.pkl").write_bytes(evil_pickle(m1))
    (tmp_path / "t.pt").write_bytes(evil_torch(m2))
    control_load(tmp_path / "p.pkl", "pickle")
    control_load(tmp_path / "t.pt", "torch")
    assert m1.read_text() == "pwned" and m2.read_text() == "pwned"


def test_cifar_batch_with_payload_is_refused(tmp_path, capsys):
    from qopt.data import load_cifar

    marker = tmp_path / "marker"
    _cifar_dir(tmp_path, marker)
    with pytest.raises(ValueError, match=r"data_batch_3.*builtins?_*\.exec"):
        load_cifar("cifar10", tmp_path)
    assert not marker.exists()
    _one_line_exit_2(capsys, ["train", "--dataset", "cifar10", "--data-dir", str(tmp_path),
                              "--model", "mlp", "--epochs", "1", "--out",
                              str(tmp_path / "run")], "data_batch_3", ".exec, which")
    assert not marker.exists()


def test_cifar_python2_style_batches_still_load(tmp_path):
    """The official archives were pickled by python 2 with numpy 1 (``numpy.core.multiarray``)."""
    from qopt.data import load_cifar

    folder = _cifar_dir(tmp_path)
    raw = pickle.dumps({b"data": np.full((2, 3072), 7, np.uint8), b"labels": [3, 4],
                        b"batch_label": b"testing batch 1 of 1"}, protocol=2)
    raw = raw.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
    assert b"numpy.core.multiarray\n_reconstruct" in raw
    (folder / "test_batch").write_bytes(raw)
    d = load_cifar("cifar10", tmp_path)
    assert d.y_test.tolist() == [3, 4] and int(d.x_test[1, 2, 31, 31]) == 7


@pytest.mark.parametrize("content,match", [
    (b"", "damaged or not a pickle"),
    (b"\x80\x02}q\x00(", "damaged or not a pickle"),
    (pickle.dumps([1, 2, 3], protocol=2), "holds a list"),
    (pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}), "3072"),
    (pickle.dumps({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}), "uint8"),
    (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}), "2 integer labels"),
    (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}), r"\[0, 10\)"),
    (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": ["a", "b"]}), "labels"),
    (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1],
                   b"f": np.float64}), "numpy.float64"),
])
def test_damaged_or_foreign_cifar_batches(tmp_path, content, match):
    from qopt.data import load_cifar

    folder = _cifar_dir(tmp_path)
    (folder / "data_batch_1").write_bytes(content)
    with pytest.raises(ValueError, match=match):
        load_cifar("cifar10", tmp_path)


def test_init_from_payload_is_refused(tmp_path, capsys):
    from qopt.train.setup import load_init

    marker = tmp_path / "marker"
    bad = tmp_path / "init.pt"
    bad.write_bytes(evil_torch(marker, wrap="model"))
    model = torch.nn.Linear(2, 1)
    with pytest.raises(ValueError, match=r"init_from .*refused.*weights_only"):
        load_init(model, str(bad))
    assert not marker.exists()
    _one_line_exit_2(capsys, ["train", "--dataset", "digits", "--model", "mlp", "--epochs", "1",
                              "--init-from", str(bad), "--out", str(tmp_path / "run")],
                     "init_from", "refused")
    assert not marker.exists()


def test_checkpoint_payload_is_refused_even_with_a_valid_checksum(tmp_path, capsys):
    from qopt.train.checkpoint import CheckpointError, load_checkpoint

    marker = tmp_path / "marker"
    for i, data in enumerate([evil_checkpoint(marker), evil_torch(marker)]):
        run = tmp_path / f"run{i}"
        run.mkdir()
        (run / "checkpoint.pt").write_bytes(data)
        with pytest.raises(CheckpointError, match="checkpoint.pt"):
            load_checkpoint(run)
        assert not marker.exists()
    run = tmp_path / "cli"
    run.mkdir()
    (run / "checkpoint.pt").write_bytes(evil_checkpoint(marker))
    _one_line_exit_2(capsys, ["train", "--dataset", "digits", "--model", "mlp", "--epochs", "1",
                              "--out", str(run)], "checkpoint.pt", "refused")
    assert not marker.exists()


def test_quantized_export_file_payload_is_refused(tmp_path):
    from qopt import load_quantized

    marker = tmp_path / "marker"
    bad = tmp_path / "quantized.pt"
    bad.write_bytes(evil_torch(marker, wrap="weight"))
    with pytest.raises(ValueError, match="refused"):
        load_quantized(torch.nn.Linear(2, 1), bad)
    assert not marker.exists()


def test_init_from_accepts_run_dirs_checkpoints_and_state_dicts(tmp_path):
    from qopt.train.checkpoint import save_checkpoint
    from qopt.train.setup import load_init

    src = torch.nn.Linear(3, 2)
    torch.save(src.state_dict(), tmp_path / "sd.pt")
    (tmp_path / "run").mkdir()
    torch.save(src.state_dict(), tmp_path / "run" / "model.pt")
    save_checkpoint(tmp_path / "ck", {"model": src.state_dict(), "epoch": 1})
    for path in (tmp_path / "sd.pt", tmp_path / "run", tmp_path / "ck" / "checkpoint.pt"):
        dst = torch.nn.Linear(3, 2)
        load_init(dst, str(path))
        assert torch.equal(dst.weight, src.weight)


def test_no_unsafe_load_in_the_code_base():
    """Static guard: no pickle.load / torch.load without weights_only=True anywhere."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    bad = []
    for pkg in ("qopt", "theory", "proofs_check", "figures", "benchmarks"):
        for f in (root / pkg).rglob("*.py"):
            for i, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
                code = line.split("#")[0]
                if re.search(r"pickle\.loads?\(|cPickle|torch\.load\(", code) \
                        and "weights_only=True" not in code and "``" not in code:
                    bad.append(f"{f.relative_to(root)}:{i}: {line.strip()}")
    assert not bad, "\n".join(bad)
