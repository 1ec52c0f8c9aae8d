"""Study config parsing, grid expansion, aggregation and the summary table (no training)."""

import numpy as np
import pytest

from qopt.study import PRESETS, aggregate, mean_std, parse_toml, study_from_dict, summary_table
from qopt.study.config import Cell
from qopt.study.runner import check_run_dir
from qopt.study.toml_out import to_toml
from qopt.train.io import atomic_write_json
from tests.qopt.test_data import _write_cifar10


def test_quick_preset_grid_has_float_once_per_seed():
    st = study_from_dict(parse_toml(PRESETS["quick"]))
    # 6 methods x 3 sets x 3 seeds, float has no set: ((6-1)*3 + 1)*3 = 48 runs
    assert len(st.cells) == 48
    assert len({c.run_id for c in st.cells}) == 48
    floats = [c for c in st.cells if c.config.method == "float"]
    assert len(floats) == 3 and all(c.config.weights is None for c in floats)
    combos = {(c.config.method, c.config.weights) for c in st.cells}
    for m in ("binaryconnect", "binaryrelax", "bcgd"):
        for w in ("binary", "ternary", "symmetric:2"):
            assert (m, w) in combos
    br = next(c for c in st.cells if c.config.method == "binaryrelax")
    assert br.config.method_args == {}  # BinaryRelax's defaults, tied to the run
    bc = next(c for c in st.cells if c.config.method == "binaryconnect")
    assert bc.config.method_args == {}


def test_every_preset_round_trips_and_validates(tmp_path):
    _write_cifar10(tmp_path)
    for name, text in PRESETS.items():
        raw = parse_toml(text)
        assert parse_toml(to_toml(raw)) == raw  # study.toml copy is faithful
        over = {"data_dir": str(tmp_path)} if "cifar" in name else None
        st = study_from_dict(raw, over)
        assert st.cells and st.name == name


@pytest.mark.parametrize("text,match", [
    ("[study]\nname = 'x'\n[grid]\nmethod = ['sgdx']\n", "method must be one of"),
    ("[grid]\nmodel = ['resnet7']\n", "model must be one of"),
    ("[base]\nmethod='bcgd'\n[grid]\nweights = ['uniform:40']\n", "bits"),
    ("[base]\ndataset='cifar10'\ndata_dir='/no/such/dir'\n", "/no/such/dir"),
    ("[grid]\nseed = 3\n", "non-empty list"),
    ("[gird]\nseed = [1]\n", "unknown study tables"),
    ("[methods.foo]\nlr = 1\n", "unknown method"),
    ("[study]\nworkers = 0\n", "workers"),
])
def test_bad_study_configs_fail_with_a_clear_message(text, match):
    with pytest.raises(ValueError, match=match):
        study_from_dict(parse_toml(text))


def test_malformed_toml_names_its_source():
    with pytest.raises(ValueError, match="malformed TOML in my.toml"):
        parse_toml("[grid\nseed = [1]", "my.toml")


def test_mean_std_is_the_sample_std():
    xs = [0.9, 0.8, 0.95]
    m, s = mean_std(xs)
    assert m == pytest.approx(np.mean(xs), abs=1e-15)
    assert s == pytest.approx(np.std(xs, ddof=1), abs=1e-15)
    assert mean_std([0.5]) == (0.5, 0.0)


def _fake(keys, acc):
    final = {"test_acc": acc, "test_loss": 1 - acc, "train_loss": 0.1, "train_acc": 0.9}
    return {"run_id": "x", "keys": keys,
            "result": {"final": final, "test_acc_at_best_val": acc, "wall_s": 1.0,
                       "config": {"seed": keys["seed"]}, "history": [final]}}


def test_aggregate_groups_over_seeds_and_table_pivots_weights():
    runs = [_fake({"method": "float", "weights": None, "seed": s}, 0.9 + 0.01 * s)
            for s in range(3)]
    runs += [_fake({"method": "bcgd", "weights": "binary", "seed": s}, 0.8 + 0.02 * s)
             for s in range(3)]
    rows = aggregate(["method", "weights", "seed"], runs)
    assert len(rows) == 2 and all(r["n_seeds"] == 3 for r in rows)
    bc = next(r for r in rows if r["method"] == "bcgd")
    assert bc["test_acc_mean"] == pytest.approx(0.82)
    assert bc["test_acc_std"] == pytest.approx(0.02)
    table = summary_table(["method", "weights", "seed"], rows)
    lines = table.splitlines()
    assert "float" in lines[1] and "binary" in lines[1]
    assert "82.0 ±  2.0" in table and "91.0 ±  1.0" in table
    # best / last-k come from per-epoch evaluations with running BN statistics, final from the
    # BN re-estimated evaluation: the table must say so (else best < final reads as a bug)
    assert "last 5 epochs, from the per-epoch evaluations (running BN statistics" in table
    assert "test @ val-best" in table and "chosen on validation, never on test" in table


def test_run_dir_of_a_different_config_is_refused(tmp_path):
    st = study_from_dict(parse_toml("[base]\nepochs = 2\n[grid]\nseed = [0]\n"))
    cell = st.cells[0]
    atomic_write_json(tmp_path / "config.json", {**cell.config.to_dict(), "epochs": 5})
    with pytest.raises(ValueError, match="different config"):
        check_run_dir(cell, tmp_path)
    from qopt.train.record import run_record

    atomic_write_json(tmp_path / "config.json", run_record(cell.config))
    check_run_dir(Cell(cell.run_id, cell.keys, cell.config), tmp_path)  # same config: fine
