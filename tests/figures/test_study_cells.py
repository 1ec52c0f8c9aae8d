"""Study figures on studies that are not the preset: an lr grid, PARQ and ProxQuant beside
BinaryRelax, a weight set fixed in [base], run directories no longer in the study.

Asserted on the plotted artists (the matplotlib figure as written): one series per cell in every
panel, no two series alike (colour, line style, marker), unique legend labels naming every grid
key that differs, only the study's current runs, and each method's plotted λ equal to the λ its
runs logged (ProxQuant's λ once overwrote BinaryRelax's: λ was keyed by weight set only).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from matplotlib.colors import to_hex

import figures.style
from figures.plot_study_curves import plot_study_curves
from figures.plot_study_diag import plot_study_diag
from tests.figures.helpers import data_lines, hidden_series

#: a real study, as small as it gets: 1-D CNN with 8 channels, 400 samples, 2 epochs
TINY = """
[study]
name = "tiny-cells"
workers = 1
threads_per_worker = 1
last_k = 1

[base]
dataset = "mnist1d"
dataset_args = { num_samples = 400 }
model = "cnn1d"
model_args = { channels = 8, depth = 2 }
epochs = 2
batch_size = 50
weights = "binary"
diag_every = 2
log_every = 4
bn_recalib_batches = 2

[grid]
method = ["float", "binaryrelax", "parq", "proxquant"]
lr = [0.1, 0.02]
seed = [0, 1]
"""

#: a stale run directory of an earlier version of the study (lr 0.05, since dropped)
STALE = "binaryrelax_lr0.05_seed0"


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory) -> Path:
    from qopt.study import parse_toml, run_study, study_from_dict

    out = tmp_path_factory.mktemp("cells") / "study"
    study = study_from_dict(parse_toml(TINY))
    summary = run_study(study, out, workers=1, stream=open("/dev/null", "w"))  # noqa: SIM115
    assert summary["n_done"] == 16 and not summary["failed"], summary
    stale = out / "runs" / STALE
    shutil.copytree(out / "runs" / "binaryrelax_lr0.1_seed0", stale)
    with open(stale / "metrics.jsonl", "a", encoding="utf-8") as fh:  # a λ no cell has
        fh.write(json.dumps({"type": "diag", "step": 10**6, "lam": 1e9, "phase": 2}) + "\n")
    return out


def _render(plot, out_dir: Path, study: Path):
    kept: list = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(figures.style.plt, "close", kept.append)
        res = plot(out_dir, study)
    assert len(kept) == 1
    return res, kept[0]


def _logged(study: Path, run_id: str, key: str) -> dict[int, float]:
    out = {}
    for line in (study / "runs" / run_id / "metrics.jsonl").read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if rec.get("type") == "diag" and isinstance(rec.get(key), (int, float)):
            out[int(rec["step"])] = float(rec[key])
    return out


def _style(line) -> tuple:
    return (to_hex(line.get_color()), str(line.get_linestyle()), str(line.get_marker()))


def _assert_legends_unique(fig) -> list[str]:
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]
    texts = []
    for leg in legends:
        t = [x.get_text() for x in leg.get_texts()]
        assert len(t) == len(set(t)), t
        texts += t
    return texts


def test_study_curves_one_distinct_series_per_cell(tmp_path, tiny_study):
    res, fig = _render(plot_study_curves, tmp_path, tiny_study)
    try:
        assert res.layout_problems == ()
        # weights is fixed in [base]: the panel still names the set (from the runs' configs)
        assert res.data["panels"] == ["binary"]
        cells = {k: v for k, v in res.data["labels"].items()}
        assert len(cells) == 8  # 4 methods x 2 lr; seeds are averaged
        assert sorted(len(r) for r in res.data["runs"].values()) == [2] * 8
        assert all(STALE not in r for r in res.data["runs"].values())
        labels = sorted(cells.values())
        assert len(set(labels)) == 8 and all("lr 0.1" in t or "lr 0.02" in t for t in labels)
        for ax in fig.axes:
            if not ax.get_visible():
                continue
            lines = data_lines(ax)
            assert sorted(ln.get_label() for ln in lines) == labels  # one series per cell
            styles = [_style(ln) for ln in lines]
            assert len(set(styles)) == len(styles), styles  # distinguishable
        legend = _assert_legends_unique(fig)
        assert sorted(legend) == labels
        # the per-epoch curves use running BN statistics; the table's are re-estimated
        assert res.data["bn_note"]
        assert "running BN" in fig.legends[0].get_title().get_text()
        # the plotted mean is the mean over the cell's seeds of the logged curve
        curves = json.loads((tiny_study / "curves.json").read_text())
        key = ("binary", "parq (lr 0.02)")
        want = 100 * np.mean([curves[r]["test_acc"] for r in res.data["runs"][key]], axis=0)
        np.testing.assert_allclose(res.data[key]["test_acc"]["center"], want, rtol=1e-12)
    finally:
        matplotlib.pyplot.close(fig)


def test_study_diag_lambda_of_every_method_is_its_logged_lambda(tmp_path, tiny_study):
    res, fig = _render(plot_study_diag, tmp_path, tiny_study)
    try:
        assert res.layout_problems == ()
        lam = res.data["lam"]
        methods = {k[1].split(" (")[0] for k in lam}
        assert methods == {"binaryrelax", "proxquant"}  # PARQ logs no λ, float no diag
        for key, (steps, mu, _) in lam.items():
            per_seed = [_logged(tiny_study, r, "lam") for r in res.data["runs"][key]]
            want = [np.mean([s[int(t)] for s in per_seed]) for t in steps]
            np.testing.assert_allclose(mu, want, rtol=1e-12)
        # what panel (a) draws: each line is one method's λ, equal to its logged λ
        ax = fig.axes[0]
        drawn = {ln.get_label(): ln for ln in data_lines(ax)}
        assert set(drawn) == set(res.data["lam_lines"])
        for label, keys in res.data["lam_lines"].items():
            steps, mu, _ = lam[keys[0]]
            np.testing.assert_allclose(drawn[label].get_ydata(), mu, rtol=1e-12)
            meth = keys[0][1].split(" (")[0]
            assert to_hex(drawn[label].get_color()) == figures.style.METHOD_COLORS[meth].lower()
        br = [lab for lab in drawn if lab.startswith("BinaryRelax")]
        pq = [lab for lab in drawn if lab.startswith("ProxQuant")]
        assert br and pq
        assert not np.allclose(drawn[br[0]].get_ydata(), drawn[pq[0]].get_ydata())
        assert 1e9 not in np.concatenate([ln.get_ydata() for ln in drawn.values()])  # stale
        # flip panel: one series per quantized cell (3 methods x 2 lr), all distinguishable
        flip_ax = fig.axes[1]
        lines = data_lines(flip_ax)
        assert len(lines) == 6 and len({_style(ln) for ln in lines}) == 6
        assert len({ln.get_label() for ln in lines}) == 6
        assert all(STALE not in r for r in res.data["runs"].values())
        _assert_legends_unique(fig)
    finally:
        matplotlib.pyplot.close(fig)


def _synthetic(root: Path) -> Path:
    """Cells that differ in weights AND lr, λ schedules that differ per cell: a λ keyed by
    anything less than the whole cell would overwrite one with another."""
    curves = {}
    for method in ("binaryrelax", "proxquant", "parq"):
        for weights in ("binary", "symmetric:2"):
            for lr in (0.1, 0.02):
                for seed in (0, 1):
                    rid = f"{method}_{weights.replace(':', '')}_lr{lr}_seed{seed}"
                    keys = {"method": method, "weights": weights, "lr": lr, "seed": seed}
                    curves[rid] = {"keys": keys, "epoch": [0, 1], "test_acc": [0.5, 0.6],
                                   "train_loss": [1.0, 0.5]}
                    run = root / "runs" / rid
                    run.mkdir(parents=True)
                    (run / "config.json").write_text(json.dumps(keys))
                    scale = {"binaryrelax": 1.0, "proxquant": 1e-3, "parq": 0.0}[method]
                    scale *= (2.0 if weights == "binary" else 3.0) * (1.0 if lr == 0.1 else 5.0)
                    recs = []
                    flip = {"binaryrelax": 0.1, "proxquant": 0.02, "parq": 0.004}[method]
                    flip *= 1.0 if lr == 0.1 else 0.5
                    for k in range(4):
                        rec = {"type": "diag", "step": 10 * (k + 1), "phase": 1,
                               "a/flip_frac": flip / (k + 1 + seed)}
                        if method != "parq":
                            rec["lam"] = scale * 1.5 ** k * (1 + 0.1 * seed)
                        recs.append(rec)
                    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n"
                                                               for r in recs))
    (root / "curves.json").write_text(json.dumps(curves))
    return root


def test_study_diag_never_merges_cells_that_differ(tmp_path):
    study = _synthetic(tmp_path / "study")
    res, fig = _render(plot_study_diag, tmp_path / "out", study)
    try:
        assert res.layout_problems == ()
        lam = res.data["lam"]
        assert len(lam) == 2 * 2 * 2  # binaryrelax, proxquant x 2 sets x 2 lr
        for (weights, meth), (_, mu, _) in lam.items():
            method = meth.split(" (")[0]
            lr = 0.1 if "lr 0.1" in meth else 0.02
            scale = {"binaryrelax": 1.0, "proxquant": 1e-3}[method]
            scale *= (2.0 if weights == "binary" else 3.0) * (1.0 if lr == 0.1 else 5.0)
            np.testing.assert_allclose(mu, scale * 1.5 ** np.arange(4) * 1.05, rtol=1e-12)
        drawn = data_lines(fig.axes[0])
        assert len(drawn) == 8 and len({_style(ln) for ln in drawn}) == 8
        assert len({ln.get_label() for ln in drawn}) == 8
        assert res.data["panels"] == ["binary", "symmetric:2"]
        for ax in fig.axes[1:3]:
            lines = data_lines(ax)
            assert len(lines) == 6 and len({_style(ln) for ln in lines}) == 6
        _assert_legends_unique(fig)
        assert hidden_series(fig) == []
    finally:
        matplotlib.pyplot.close(fig)


def test_study_curves_reads_only_the_current_runs(tmp_path):
    # curves.json is what the study runner wrote for the study's current cells: a run directory
    # of an earlier grid (left on disk, untouched) is not drawn by any study figure
    study = _synthetic(tmp_path / "study")
    stale = study / "runs" / "binaryrelax_binary_lr0.05_seed0"
    shutil.copytree(study / "runs" / "binaryrelax_binary_lr0.1_seed0", stale)
    (stale / "config.json").write_text(json.dumps({"method": "binaryrelax", "weights": "binary",
                                                   "lr": 0.05, "seed": 0}))
    for plot in (plot_study_curves, plot_study_diag):
        res, fig = _render(plot, tmp_path / "out", study)
        matplotlib.pyplot.close(fig)
        assert all(stale.name not in r for r in res.data["runs"].values()), plot.__name__
        assert not any("0.05" in lab for lab in res.data["labels"].values())


def test_plot_run_draws_what_the_run_logged(tmp_path, tiny_study):
    from figures.plot_run import plot_run

    run = tiny_study / "runs" / "binaryrelax_lr0.1_seed0"
    res, fig = _render(lambda out, rd: plot_run(out, rd), tmp_path, run)
    try:
        assert res.layout_problems == ()
        assert res.png.name == "run_binaryrelax_lr0.1_seed0.png"
        titles = [t.split(" ", 1)[1] for t in res.data["panels"]]
        assert titles == ["loss", "accuracy", "learning rate", r"$\lambda$", "dist² to the set",
                          "code flips"]
        logged = _logged(tiny_study, run.name, "lam")
        steps, lam = res.data["scalars"]["lam"]
        np.testing.assert_allclose(lam, [logged[int(s)] for s in steps], rtol=0)
        ax_lam = fig.axes[3]
        np.testing.assert_allclose(data_lines(ax_lam)[0].get_ydata(), lam, rtol=0)
        # the accuracies are the eval records' (running BN), and the BN re-estimated final one
        evals = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()
                 if '"type": "eval"' in x]
        s, acc = res.data["accuracy"]["test"]
        np.testing.assert_allclose(acc, [100 * e["test_acc"] for e in evals], rtol=1e-12)
        result = json.loads((run / "result.json").read_text())
        assert res.data["final_acc"][1] == pytest.approx(100 * result["final"]["test_acc"])
        # dist²: mean over tensors of NAME/dist2 per diag record
        diag = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()
                if '"type": "diag"' in x]
        d2 = [np.mean([v for k, v in r.items() if k.endswith("/dist2")]) for r in diag]
        np.testing.assert_allclose(res.data["dist2"][1], d2, rtol=1e-12)
        _assert_legends_unique(fig)
    finally:
        matplotlib.pyplot.close(fig)
    # a float run logs no diag records: loss, accuracy, learning rate only
    res = plot_run(tmp_path, tiny_study / "runs" / "float_lr0.1_seed0")
    assert [t.split(" ", 1)[1] for t in res.data["panels"]] == ["loss", "accuracy",
                                                               "learning rate"]
    assert res.layout_problems == ()


def test_cli_plot_and_figures_run_and_user_errors(tmp_path, tiny_study, capsys):
    from qopt.cli import main

    run = tiny_study / "runs" / "parq_lr0.02_seed1"
    assert main(["plot", str(run), "--out", str(tmp_path / "a")]) == 0
    assert (tmp_path / "a" / "run_parq_lr0.02_seed1.pdf").read_bytes().startswith(b"%PDF")
    assert "PARQ inverse slope" in capsys.readouterr().out
    assert main(["figures", "--run", str(run), "--out", str(tmp_path / "b")]) == 0
    assert (tmp_path / "b" / "run_parq_lr0.02_seed1.png").is_file()
    capsys.readouterr()
    for args, what in ((["plot", str(tiny_study)], "is a study directory"),
                       (["plot", str(tmp_path / "nope")], "does not exist"),
                       (["figures", "--results", str(run)], "is a run directory"),
                       (["figures", "--results", str(tmp_path / "nope")], "does not exist")):
        assert main([*args, "--out", str(tmp_path / "c")]) == 2, args
        err = capsys.readouterr().err
        assert what in err and len(err.strip().splitlines()) == 1, (args, err)
    assert not (tmp_path / "c").exists()
