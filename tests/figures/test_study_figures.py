"""Study figures on a synthetic study directory with known curves; the CLI's skip rules."""

from __future__ import annotations

import numpy as np
import pytest

from figures.plot_study_curves import plot_study_curves
from figures.plot_study_diag import flip_fraction, plot_study_diag
from figures.study_data import load_diag, mean_std_curves
from qopt.cli import main
from tests.figures.helpers import (
    DIAG_STEPS,
    EPOCHS,
    METHODS,
    SEEDS,
    WEIGHTS,
    accuracy_of,
    assert_written,
)


def test_mean_std_curves_matches_numpy_and_skips_missing():
    mean, std, cnt = mean_std_curves([[1.0, 2.0, None], [3.0, float("nan"), 5.0], [2.0]])
    np.testing.assert_allclose(mean, [2.0, 2.0, 5.0])
    np.testing.assert_allclose(std, [np.std([1, 3, 2], ddof=1), 0.0, 0.0])
    np.testing.assert_array_equal(cnt, [3, 1, 1])
    with pytest.raises(ValueError, match="at least one"):
        mean_std_curves([])


def test_study_curves_plot_mean_and_sample_std_over_seeds(tmp_path, study_dir):
    res = plot_study_curves(tmp_path / "out", study_dir)
    assert_written(res)
    assert res.layout_problems == ()
    assert res.data["panels"] == ["binary", "ternary"]
    cells = [k for k in res.data if isinstance(k, tuple)]
    assert len(cells) == len(METHODS) * len(WEIGHTS) + 1  # + float (weights none)
    for m in METHODS:
        for w in WEIGHTS:
            d = res.data[(w, m)]["test_acc"]
            np.testing.assert_array_equal(d["epoch"], np.arange(1, EPOCHS + 1))
            acc = 100 * np.array([[accuracy_of(m, w, s, e) for e in range(EPOCHS)]
                                  for s in SEEDS])
            assert d["stat"] == "arithmetic"
            np.testing.assert_allclose(d["center"], acc.mean(axis=0), rtol=1e-12)
            np.testing.assert_allclose(d["hi"] - d["center"], acc.std(axis=0, ddof=1),
                                       rtol=1e-9)
            np.testing.assert_allclose(d["center"] - d["lo"], acc.std(axis=0, ddof=1),
                                       rtol=1e-9)
            np.testing.assert_array_equal(d["n"], len(SEEDS))


def test_study_curves_loss_band_is_geometric_and_stays_positive(tmp_path, study_dir):
    # the synthetic loss of seed s at epoch e is exp(-0.3 e)(1 + 0.1 s): geometric statistics
    # over seeds are exp(mean log) and exp(mean log ± sample std of log) (module docstring)
    res = plot_study_curves(tmp_path / "out", study_dir)
    d = res.data[("binary", "bcgd")]["train_loss"]
    assert d["stat"] == "geometric"
    logs = np.array([[-0.3 * e + np.log(1 + 0.1 * s) for e in range(EPOCHS)] for s in SEEDS])
    m, sd = logs.mean(axis=0), logs.std(axis=0, ddof=1)
    np.testing.assert_allclose(d["center"], np.exp(m), rtol=1e-12)
    np.testing.assert_allclose(d["lo"], np.exp(m - sd), rtol=1e-12)
    np.testing.assert_allclose(d["hi"], np.exp(m + sd), rtol=1e-12)


def test_curve_stats_geometric_band_never_reaches_zero():
    from figures.plot_study_curves import curve_stats

    # a spread larger than the mean: the arithmetic band crosses 0, the geometric one cannot
    curves = [[1e-3], [1e-1], [0.5], [0.0], [None]]  # 0 and None are skipped on the log side
    ar = curve_stats(curves, "arithmetic")
    assert ar["lo"][0] < 0 and ar["n"][0] == 4
    ge = curve_stats(curves, "geometric")
    assert ge["n"][0] == 3 and 0 < ge["lo"][0] < ge["center"][0] < ge["hi"][0]
    assert ge["center"][0] == pytest.approx((1e-3 * 1e-1 * 0.5) ** (1 / 3), rel=1e-12)
    with pytest.raises(ValueError, match="stat"):
        curve_stats(curves, "median")


def test_study_diag_plots_lambda_and_flip_fraction(tmp_path, study_dir):
    runs = load_diag(study_dir)
    assert len(runs) == len(METHODS) * len(WEIGHTS) * len(SEEDS)  # float runs have no diag
    res = plot_study_diag(tmp_path / "out", study_dir)
    assert_written(res)
    # one λ series per cell (here: BinaryRelax on each weight set), not per weight set
    assert set(res.data["lam"]) == {(w, "binaryrelax") for w in WEIGHTS}
    steps, lam, ph2 = res.data["lam"][("binary", "binaryrelax")]
    np.testing.assert_array_equal(steps, DIAG_STEPS)
    np.testing.assert_allclose(lam, 1.3 ** np.arange(1, len(DIAG_STEPS) + 1), rtol=1e-12)
    np.testing.assert_array_equal(ph2, [False, False, False, True])
    steps, mu, sd, n = res.data["flip"][("ternary", "bcgd")]
    assert n == len(SEEDS) and np.isnan(mu[0])  # no previous record at the first one
    # per record: mean over the two tensors of 0.1/(k+s), 0.3/(k+s) = 0.2/(k+s)
    for k in range(1, len(DIAG_STEPS)):
        vals = [0.2 / (k + s) for s in SEEDS]
        assert mu[k] == pytest.approx(np.mean(vals), rel=1e-12)
        assert sd[k] == pytest.approx(np.std(vals, ddof=1), rel=1e-9)
    # the band is the range over seeds: every seed's value lies in it, and it never reaches 0
    lo, hi = res.data["flip_range"][("ternary", "bcgd")]
    for k in range(1, len(DIAG_STEPS)):
        vals = [0.2 / (k + s) for s in SEEDS]
        assert (lo[k], hi[k]) == pytest.approx((min(vals), max(vals)), rel=1e-12)
    assert np.isnan(lo[0]) and np.isnan(hi[0])
    assert res.data["panels"] == ["binary", "ternary"] and res.layout_problems == ()


def test_flip_fraction_ignores_missing_values():
    assert flip_fraction({"a/flip_frac": 0.5, "b/flip_frac": None, "a/dist2": 9.0}) == 0.5
    assert np.isnan(flip_fraction({"lam": 2.0}))


def test_cli_study_figures_and_missing_results(tmp_path, study_dir, capsys):
    out = tmp_path / "figs"
    assert main(["figures", "--out", str(out), "--only", "study_curves,study_diag",
                 "--results", str(study_dir)]) == 0
    for stem in ("study_curves", "study_diag"):
        assert (out / f"{stem}.pdf").stat().st_size > 0
        assert (out / f"{stem}.png").stat().st_size > 0
    cap = capsys.readouterr()  # one progress line per figure as it is built (stderr: not a TTY)
    lines = [ln for ln in cap.err.splitlines() if ln.startswith("[figures]")]
    assert [ln.split()[1:3] for ln in lines] == [["1/2", "study_curves:"],
                                                 ["2/2", "study_diag:"]]
    assert "warning" not in cap.err  # no layout problems
    assert cap.out.startswith("2 figure(s) written to")
    # a --results that does not exist, or is a run and not a study: a user error, one line,
    # exit 2, nothing built
    missing = tmp_path / "nope"
    for bad, what in ((missing, "does not exist"),
                      (study_dir / "runs" / "bcgd-binary-s0", "is a run directory")):
        assert main(["figures", "--out", str(tmp_path / "none"), "--only", "study_curves",
                     "--results", str(bad)]) == 2
        err = capsys.readouterr().err
        assert what in err and len(err.strip().splitlines()) == 1, err
        assert not (tmp_path / "none").exists()
    assert main(["figures", "--out", str(out), "--only", "no_such_figure"]) == 2


def test_cli_all_figures_skip_missing_inputs_with_exit_zero(tmp_path, capsys, monkeypatch):
    # the default inputs (studies/quick, BENCHMARKS.json in the working directory) are absent:
    # their figures are skipped, the theory figures are built, exit 0
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "figs"
    rc = main(["figures", "--quick", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "skipped study_curves" in err and "skipped bench_scaling" in err
    from figures.registry import FIGURES
    theory = [n for n, s in FIGURES.items() if s.kind == "theory"]
    assert len(theory) >= 3
    for name in theory:
        assert (out / f"{name}.pdf").read_bytes().startswith(b"%PDF")
