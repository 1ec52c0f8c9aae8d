"""Approximate-quantizer error figure: exact projections are optimal, known Gaussian values."""

from __future__ import annotations

import numpy as np
import pytest

from figures.plot_approx_error import QUANTIZERS, plot_approx_error, relative_error
from tests.figures.helpers import assert_written


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    rng = np.random.default_rng(3)
    trained = {"conv.weight": rng.laplace(size=(8, 4, 3, 3)), "fc.weight": rng.standard_t(
        3, size=(10, 8))}  # heavy-tailed, like trained weights
    return plot_approx_error(tmp_path_factory.mktemp("fig"), bits=(1, 2, 3, 4), n_gauss=20_000,
                             trained=trained, trained_desc="synthetic heavy-tailed")


def test_files_and_every_quantizer_present(result):
    assert_written(result)
    for src in ("gaussian", "trained"):
        assert set(result.data[src]) == set(QUANTIZERS)
        assert set(result.data[src]["exact, no zero"]) == {1, 2, 3, 4}
        assert set(result.data[src]["exact, with zero"]) == {2, 3, 4}  # Uniform(1) = {0}
        assert set(result.data[src]["TWN"]) == {2}
        assert set(result.data[src]["BCGD code: quantize_fbit"]) == {4}


def test_exact_projection_is_never_beaten(result):
    # optimality of the projection: every feasible q of the same set is at least as far;
    # 1e-12 relative slack for float64 summation order
    for src in ("gaussian", "trained"):
        for label, ratios in result.data["ratio"][src].items():
            for b, r in ratios.items():
                assert r >= 1 - 1e-12, (src, label, b, r)
        assert all(r == 1.0 for r in result.data["ratio"][src]["exact, with zero"].values())


def test_gaussian_values_match_closed_forms(result):
    g = result.data["gaussian"]
    # binary: E|w|^2 / E w^2 = 2/pi, so the relative error is 1 - 2/pi (derived here);
    # n = 2e4 samples: sampling sd 0.002 (measured over 40 seeds), tolerance 0.02
    assert g["exact, no zero"][1] == pytest.approx(1 - 2 / np.pi, abs=0.02)
    # population relative errors on N(0,1), exact Gaussian cell integrals (derived here;
    # docs/math/approximate-quantizers.md#ratios, pinned in tests/docs/test_population_numbers.py):
    # exact ternary 0.1902, TWN 0.1916. This sample (n = 2e4, seed 0) gives 0.1917 and 0.1927;
    # sampling sd 0.0018 for both (40 seeds), tolerance 0.01 (> 5 sd)
    assert g["exact, with zero"][2] == pytest.approx(0.1902, abs=0.01)
    assert g["TWN"][2] == pytest.approx(0.1916, abs=0.01)
    # errors fall with the bit width for the exact projections
    e = g["exact, no zero"]
    assert all(e[b + 1] < e[b] for b in (1, 2, 3))


def test_relative_error_definition():
    w = [np.array([3.0, 4.0]), np.array([0.0, 5.0])]
    assert relative_error(w, lambda x: np.zeros_like(x)) == 1.0
    assert relative_error(w, lambda x: x) == 0.0
    assert relative_error(w, lambda x: x - 1.0) == pytest.approx(4 / 50)
    with pytest.raises(ValueError, match="all zero"):
        relative_error([np.zeros(3)], lambda x: x)


def test_bad_bits_rejected(tmp_path):
    with pytest.raises(ValueError, match="bits"):
        plot_approx_error(tmp_path, bits=(0, 2), trained={"w": np.ones((2, 2))})
