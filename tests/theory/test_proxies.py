"""Tests of theory.proxies: STE proxies, BCGD's ceil quantized ReLU and its alpha-gradients,
UniQ's round-to-nearest quantizers; values against brute-force definitions, gradients against
finite differences where they are true derivatives, and the released code's conventions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from theory.proxies import (
    binary_step,
    proxy_derivative,
    proxy_value,
    quantized_relu,
    quantized_relu_grad_alpha,
    quantized_relu_grad_x,
    symmetric_midrise,
    symmetric_midrise_grads,
    uniform_round,
    uniform_round_grads,
)

xs = st.lists(st.floats(-20, 20, allow_nan=False), min_size=1, max_size=30).map(np.array)
bits_ = st.integers(1, 5)
steps_ = st.floats(0.05, 3.0)


@given(xs)
def test_binary_step_and_proxy_derivatives_are_derivatives_of_values(x):
    np.testing.assert_array_equal(binary_step(x), (x > 0).astype(float))
    h = 1e-7
    for proxy in ("identity", "relu", "clipped_relu"):
        away = (np.abs(x) > 1e-5) & (np.abs(x - 1.0) > 1e-5)  # off the kinks
        fd = (proxy_value(x + h, proxy) - proxy_value(x - h, proxy)) / (2 * h)
        np.testing.assert_allclose(proxy_derivative(x, proxy)[away], fd[away], atol=1e-6)
    assert proxy_derivative(np.array([0.0, 1.0]), "clipped_relu").tolist() == [0.0, 1.0]


def _ceil_reference(x, alpha, bits):
    m = 2**bits - 1
    out = []
    for xi in x:
        if xi <= 0:
            out.append(0.0)
        elif xi > (m - 1) * alpha:
            out.append(m * alpha)
        else:
            k = next(k for k in range(1, m) if (k - 1) * alpha < xi <= k * alpha)
            out.append(k * alpha)
    return np.array(out)


@given(xs, steps_, bits_)
def test_quantized_relu_matches_definition(x, alpha, bits):
    q = quantized_relu(x, alpha, bits)
    np.testing.assert_allclose(q, _ceil_reference(x, alpha, bits), rtol=0, atol=1e-12)
    assert np.all(np.diff(quantized_relu(np.sort(x), alpha, bits)) >= 0)  # monotone
    rng_ = (x > 0) & (x <= (2**bits - 1) * alpha)  # ceil type: 0 <= q - x < alpha in range
    assert np.all(q[rng_] - x[rng_] >= -1e-12) and np.all(q[rng_] - x[rng_] < alpha + 1e-12)


@given(xs, steps_, bits_)
def test_quantized_relu_ae_alpha_gradient_is_the_derivative(x, alpha, bits):
    m = 2**bits - 1
    y = x / alpha
    assume(np.all(np.abs(y - np.round(y)) > 1e-4))  # off the cell edges
    h = 1e-8 * alpha
    fd = (quantized_relu(x, alpha + h, bits) - quantized_relu(x, alpha - h, bits)) / (2 * h)
    np.testing.assert_allclose(quantized_relu_grad_alpha(x, alpha, bits, "ae"), fd, atol=1e-5)
    g = quantized_relu_grad_x(x, alpha, bits)
    np.testing.assert_array_equal(g, ((x > 0) & (x <= m * alpha)).astype(float))


def test_quantized_relu_alpha_variants_released_semantics():
    # bits = 2 (M = 3), alpha = 1; x in (<=0, (0,1], (1,2], (2,3], >3)
    x = np.array([-1.0, 0.5, 1.5, 2.5, 3.5])
    assert quantized_relu(x, 1.0, 2).tolist() == [0.0, 1.0, 2.0, 3.0, 3.0]
    expect = {"ae": [0, 1, 2, 3, 3], "mean": [0, 2, 2, 2, 3], "min": [0, 1, 1, 1, 3],
              "pact": [0, 0, 0, 0, 3]}
    for variant, val in expect.items():
        assert quantized_relu_grad_alpha(x, 1.0, 2, variant).tolist() == val
    assert quantized_relu_grad_x(x, 1.0, 2, "relu").tolist() == [0, 1, 1, 1, 1]
    assert quantized_relu_grad_x(x, 1.0, 2, "identity").tolist() == [1, 1, 1, 1, 1]
    # mean = 2^(b-1) is the mean of the a.e. derivative k over the M cells
    assert np.mean(np.arange(1, 2**4)) == quantized_relu_grad_alpha(np.array([0.5]), 1.0, 4)[0]


@given(xs, steps_, bits_)
def test_round_to_nearest_quantizers_pick_nearest_levels(x, step, bits):
    m = 2**bits - 1
    lev_a = step * np.arange(m + 1)
    lev_w = step * (np.arange(m + 1) - m / 2)
    pairs = ((uniform_round(x, step, bits), lev_a), (symmetric_midrise(x, step, bits), lev_w))
    for q, lev in pairs:
        d = np.abs(x[:, None] - lev[None, :])
        srt = np.sort(d, axis=1)
        clear = srt[:, 1] - srt[:, 0] > 1e-9  # not a tie
        np.testing.assert_allclose(q[clear], lev[np.argmin(d, axis=1)][clear], atol=1e-12)
    inside = (x > 1e-9) & (x < m * step - 1e-9)
    gx, gs = uniform_round_grads(x, step, bits)
    np.testing.assert_array_equal(gx[inside], 1.0)
    # straight-through round: a_hat = x + step*(rint(y) - y) inside, so dA/dstep = (a_hat - x)/step
    np.testing.assert_allclose(gs[inside], (uniform_round(x, step, bits) - x)[inside] / step,
                               atol=1e-9)
    np.testing.assert_array_equal(gs[x > m * step], float(m))
    np.testing.assert_array_equal(gs[x < 0], 0.0)
    gw, gsw = symmetric_midrise_grads(x, step, bits)
    hi, lo = x > m * step / 2, x < -m * step / 2
    np.testing.assert_array_equal(gsw[hi], m / 2)
    np.testing.assert_array_equal(gsw[lo], -m / 2)
    np.testing.assert_array_equal(gw[hi | lo], 0.0)


def test_uniq_binary_weight_conventions():
    # b = 1: levels +-step/2; w = 0 rounds half to even -> -step/2 (docs/math/uniq.md#ties)
    assert symmetric_midrise(np.array([0.0, 0.3, -0.3]), 2.0, 1).tolist() == [-1.0, 1.0, -1.0]
    assert uniform_round(np.array([0.5, 1.5, 2.5]), 1.0, 2).tolist() == [0.0, 2.0, 2.0]


def test_bad_inputs_name_the_argument():
    x = np.ones(3)
    with pytest.raises(ValueError, match="bits"):
        quantized_relu(x, 1.0, 0)
    with pytest.raises(ValueError, match="alpha"):
        quantized_relu(x, 0.0, 2)
    with pytest.raises(ValueError, match="step"):
        uniform_round(x, -1.0, 2)
    with pytest.raises(ValueError, match="proxy"):
        proxy_derivative(x, "sigmoid")
    with pytest.raises(ValueError, match="variant"):
        quantized_relu_grad_alpha(x, 1.0, 2, "median")
    with pytest.raises(TypeError, match="x"):
        binary_step(np.array([1, 2]))
    with pytest.raises(ValueError, match="w must be finite"):
        symmetric_midrise(np.array([np.nan]), 1.0, 2)
