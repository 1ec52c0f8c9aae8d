"""UniQ quantizers and layers: forward against numpy, the LSQ step gradient (formula, gradient scale
per tensor and per channel), the step gradient against finite differences of the quantization
loss, calibration, layers and export.

Tolerances: float64 forward values exactly equal (one rounding each side); gradient sums 1e-12
relative; finite differences of closed-form Gaussian integrals (h = 1e-5, O(h^2) truncation on a
smooth function) 1e-7; the quantile-grid expectation (n = 400001 midpoint nodes, integrand with
finitely many kinks: error O(1/n)) 1e-4.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy.special import ndtr, ndtri

from qopt.nn import UniQActivation, UniQConv1d, UniQConv2d, UniQLinear, UniQWeight, calibrate_uniq
from qopt.nn.constants import UNIQ_C_A, UNIQ_C_W
from qopt.nn.uniq_functions import uniq_activation_quantize, uniq_weight_quantize


def np_symmetric(w: np.ndarray, d: float, bits: int) -> np.ndarray:
    """Nearest of the 2^b levels ±d/2..±(2^b-1)d/2 by brute force (generic w: no ties)."""
    big_m = 2 ** bits - 1
    levels = d * (np.arange(big_m + 1) - big_m / 2)
    return levels[np.argmin(np.abs(w[:, None] - levels[None, :]), axis=1)]


def np_lsq_dq(w: np.ndarray, d: float, bits: int) -> np.ndarray:
    """``docs/math/uniq.md#gradients``: round(y) - y inside (y = w/d + M/2 in [0, M]), +-M/2 when
    clipped."""
    big_m = 2 ** bits - 1
    y = w / d + big_m / 2
    return np.where(y > big_m, big_m / 2, np.where(y < 0, -big_m / 2, np.rint(y) - y))


def _w(n: int = 3001, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 1.0, n)


@pytest.mark.parametrize("bits", (1, 2, 3, 4, 8))
def test_weight_forward_levels(bits: int) -> None:
    w, d = _w(), 0.7 * UNIQ_C_W[bits]
    out = uniq_weight_quantize(torch.tensor(w), torch.tensor(d, dtype=torch.float64), bits)
    np.testing.assert_allclose(out.numpy(), np_symmetric(w, d, bits), rtol=1e-15, atol=1e-15)
    assert len(np.unique(out.numpy())) <= 2 ** bits and 0.0 not in out.numpy()


def test_binary_is_sign_times_half_step_and_tie_convention() -> None:
    w = torch.tensor([-2.0, -0.1, 0.3, 5.0, 0.0], dtype=torch.float64)
    out = uniq_weight_quantize(w, torch.tensor(0.8, dtype=torch.float64), 1)
    # half-to-even (torch.round, as the released code): w = 0 -> y = 1/2 -> k = 0 -> -d/2
    assert out.tolist() == [-0.4, -0.4, 0.4, 0.4, -0.4]


@given(st.lists(st.floats(-50, 50, allow_nan=False), min_size=1, max_size=30),
       st.floats(1e-3, 10.0), st.integers(1, 6))
def test_weight_forward_is_nearest_level(ws: list[float], d: float, bits: int) -> None:
    w = np.asarray(ws)
    out = uniq_weight_quantize(torch.tensor(w), torch.tensor(d, dtype=torch.float64), bits)
    big_m = 2 ** bits - 1
    levels = d * (np.arange(big_m + 1) - big_m / 2)
    best = np.min(np.abs(w[:, None] - levels[None, :]), axis=1)
    assert np.all(np.abs(out.numpy() - w) <= best + 1e-9 * max(d, 1.0))


@pytest.mark.parametrize("bits", (1, 2, 4))
def test_weight_lsq_gradients(bits: int) -> None:
    w, d = _w(), 0.6 * UNIQ_C_W[bits]
    gout = np.random.default_rng(1).normal(size=w.shape)
    wt = torch.tensor(w, requires_grad=True)
    q = UniQWeight(bits, grad_scale=False).double()
    with torch.no_grad():
        q.delta.fill_(d)
    q(wt).backward(torch.tensor(gout))
    big_m = 2 ** bits - 1
    inside = np.abs(w) <= big_m * d / 2
    np.testing.assert_array_equal(wt.grad.numpy(), gout * inside)
    assert q.delta.grad.item() == pytest.approx(np.sum(gout * np_lsq_dq(w, d, bits)), rel=1e-12)


@pytest.mark.parametrize("bits", (1, 2, 3, 5))
def test_weight_grad_scale_per_tensor_and_per_channel(bits: int) -> None:
    """g = 1/sqrt(N Qp), Qp = max(2^(b-1)-1, 1); per channel N = numel/C (NOT numel: a common LSQ
    reimplementation bug, ``docs/math/uniq.md#gradient-scale``, would make every channel's gradient
    sqrt(C) smaller)."""
    c = 8
    w = torch.tensor(np.random.default_rng(2).normal(size=(c, 3, 3, 3)))
    gout = torch.tensor(np.random.default_rng(3).normal(size=w.shape))
    qp = max(2 ** (bits - 1) - 1, 1)
    raw = UniQWeight(bits, per_channel=True, channels=c, grad_scale=False).double()
    scaled = UniQWeight(bits, per_channel=True, channels=c).double()
    tensor_wise = UniQWeight(bits).double()
    for m in (raw, scaled, tensor_wise):
        m.init_from(w)
        m(w).backward(gout)
    g_channel = 1 / math.sqrt(27 * qp)
    np.testing.assert_allclose(scaled.delta.grad.numpy(), raw.delta.grad.numpy() * g_channel,
                               rtol=1e-12)
    assert scaled.grad_scale(w) == pytest.approx(g_channel, rel=1e-15)
    assert tensor_wise.grad_scale(w) == pytest.approx(1 / math.sqrt(216 * qp), rel=1e-15)
    assert scaled.grad_scale(w) / tensor_wise.grad_scale(w) == pytest.approx(math.sqrt(c))
    # per-channel raw gradient = the per-channel sum of the elementwise formula
    d = raw.delta.detach().numpy()
    per = [np.sum(gout[i].numpy() * np_lsq_dq(w[i].numpy(), d[i], bits)) for i in range(c)]
    np.testing.assert_allclose(raw.delta.grad.numpy(), per, rtol=1e-12)


# ---- the step gradient against finite differences of the quantization loss ---------------------

def _cells(d: float, bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    big_m = 2 ** bits - 1
    lev = np.arange(big_m + 1) - big_m / 2.0
    edges = np.concatenate([[-np.inf], (np.arange(big_m) + 0.5 - big_m / 2.0) * d, [np.inf]])
    return edges[:-1], edges[1:], lev


def _moments(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(int phi, int x phi, int x^2 phi) over [a, b] for the N(0,1) density."""
    fa, fb = np.where(np.isfinite(a), a, 0.0), np.where(np.isfinite(b), b, 0.0)
    pa = np.where(np.isfinite(a), np.exp(-fa**2 / 2), 0.0) / math.sqrt(2 * math.pi)
    pb = np.where(np.isfinite(b), np.exp(-fb**2 / 2), 0.0) / math.sqrt(2 * math.pi)
    i0 = ndtr(b) - ndtr(a)
    return i0, pa - pb, i0 + fa * pa - fb * pb


def expected_loss(d: float, bits: int) -> float:
    """E[1/2 (Q_d(w) - w)^2], w ~ N(0, 1), exact Gaussian cell integrals."""
    a, b, lev = _cells(d, bits)
    i0, i1, i2 = _moments(a, b)
    c = lev * d
    return 0.5 * float(np.sum(i2 - 2 * c * i1 + c * c * i0))


def expected_exact_grad(d: float, bits: int) -> float:
    """E[(Q - w) dQ/dd] with dQ/dd = level (codes locally constant); boundary terms of Leibniz's
    rule cancel because the loss is continuous across the midpoints (derived here)."""
    a, b, lev = _cells(d, bits)
    i0, i1, _ = _moments(a, b)
    return float(np.sum(lev * (lev * d * i0 - i1)))


@pytest.mark.parametrize("bits", (1, 2, 3, 4))
@pytest.mark.parametrize("factor", (0.7, 1.3))
def test_exact_step_derivative_matches_fd_of_expected_loss(bits: int, factor: float) -> None:
    d, h = factor * UNIQ_C_W[bits], 1e-5
    fd = (expected_loss(d + h, bits) - expected_loss(d - h, bits)) / (2 * h)
    assert expected_exact_grad(d, bits) == pytest.approx(fd, abs=1e-7)
    # c_w[b] is the MSE optimum: the derivative vanishes there
    assert abs(expected_exact_grad(UNIQ_C_W[bits], bits)) < 1e-7


def test_exact_step_derivative_matches_fd_of_empirical_loss() -> None:
    """The empirical loss 1/2||Q_d(w) - w||^2 is piecewise smooth in d; at a generic d (no code
    change within +-h, checked) its derivative is sum((Q - w) Q/d)."""
    w, bits, d, h = _w(2000, seed=4), 3, 0.55, 1e-7
    big_m = 2 ** bits - 1

    def codes(dd: float) -> np.ndarray:
        return np.clip(np.rint(w / dd + big_m / 2), 0, big_m)

    assert np.array_equal(codes(d - h), codes(d + h))
    loss = [0.5 * np.sum((np_symmetric(w, dd, bits) - w) ** 2) for dd in (d + h, d - h)]
    q = np_symmetric(w, d, bits)
    assert np.sum((q - w) * q / d) == pytest.approx((loss[0] - loss[1]) / (2 * h), rel=1e-6)


@pytest.mark.parametrize("bits", (1, 2, 3, 4, 6))
def test_lsq_step_gradient_vs_expected_loss(bits: int) -> None:
    """The implemented LSQ step gradient (g = 1), averaged over w ~ N(0,1) on a quantile grid, is
    compared with the finite-difference derivative of the exact expected loss E(d).

    LSQ's dQ/dd = round(y) - y replaces the true dQ/dd = level by dropping -w/d (the
    straight-through round), so it equals E'(d) only in the high-resolution limit: the gap is
    asserted to shrink with b (0.06 at b = 1, where LSQ's fixed point is not the MSE optimum).
    Observed at d = 1.3 c_w[b], b = 1, 2, 3, 4, 6: gaps 0.061, 0.012, 1.8e-3, 2.1e-4, 8e-6
    (relative to E'(d): 51%, 14%, 3.2%, 0.6%, 0.07%); the same sign throughout.
    """
    n = 400001
    w = torch.tensor(ndtri((np.arange(n) + 0.5) / n))
    d_val = 1.3 * UNIQ_C_W[bits]
    delta = torch.tensor(d_val, dtype=torch.float64, requires_grad=True)
    q = uniq_weight_quantize(w, delta, bits)
    (0.5 * torch.sum((q - w) ** 2) / n).backward()
    lsq = delta.grad.item()
    # closed form of E[(Q - w) * LSQ dQ/dd]: inside (|w| <= M d / 2) (Q - w)^2 / d, outside
    # (Q - w) * (+-M/2) with Q = +-M d / 2
    big_m, h = 2 ** bits - 1, 1e-5
    top = big_m * d_val / 2
    a, b, lev = _cells(d_val, bits)
    a_in, b_in = np.clip(a, -top, top), np.clip(b, -top, top)
    i0, i1, i2 = _moments(a_in, b_in)
    c = lev * d_val
    inside = float(np.sum(i2 - 2 * c * i1 + c * c * i0)) / d_val
    t0, t1, _ = _moments(np.array([top]), np.array([np.inf]))
    outside = float(big_m * (top * t0[0] - t1[0]))  # 2 tails x (M/2) int (top - w) phi
    assert lsq == pytest.approx(inside + outside, abs=1e-4)
    fd = (expected_loss(d_val + h, bits) - expected_loss(d_val - h, bits)) / (2 * h)
    gap = abs(lsq - fd)
    assert gap < {1: 0.07, 2: 0.015, 3: 2.5e-3, 4: 3e-4, 6: 2e-5}[bits]
    assert np.sign(lsq) == np.sign(fd)


# ---- activations -------------------------------------------------------------------------------

def test_activation_forward_and_gradients() -> None:
    x = np.maximum(_w(4000, seed=5) * 2, 0.0)
    d, bits = 0.3, 3
    xt = torch.tensor(x, requires_grad=True)
    delta = torch.tensor(d, dtype=torch.float64, requires_grad=True)
    gout = np.random.default_rng(6).normal(size=x.shape)
    out = uniq_activation_quantize(xt, delta, bits)
    levels = d * np.arange(8)
    ref = levels[np.argmin(np.abs(x[:, None] - levels[None]), axis=1)]
    np.testing.assert_allclose(out.detach().numpy(), ref, rtol=1e-15, atol=0)
    out.backward(torch.tensor(gout))
    y = x / d
    np.testing.assert_array_equal(xt.grad.numpy(), gout * ((y >= 0) & (y <= 7)))
    dq = np.where(y > 7, 7.0, np.where(y < 0, 0.0, np.rint(y) - y))
    assert delta.grad.item() == pytest.approx(np.sum(gout * dq), rel=1e-12)


def test_activation_grad_scale_includes_batch() -> None:
    m = UniQActivation(4)
    x = torch.rand(16, 3, 5, 5)
    assert m.grad_scale(x) == pytest.approx(1 / math.sqrt(16 * 75 * 15), rel=1e-15)


def test_calibration_max_over_batches() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.ReLU(), UniQLinear(6, 2, bits=2, act_bits=3))
    batches = [torch.randn(32, 6) * s for s in (1.0, 3.0, 2.0, 10.0)]
    used = calibrate_uniq(model, batches, num_batches=3)
    assert used == 3
    expect = max(math.sqrt(2 * float((b.relu() ** 2).mean())) for b in batches[:3]) * UNIQ_C_A[3]
    assert model[1].act_quantizer.delta.item() == pytest.approx(expect, rel=1e-6)
    w = model[1].weight.detach()
    assert model[1].weight_quantizer.delta.item() == pytest.approx(
        float(w.std()) * UNIQ_C_W[2], rel=1e-6)
    assert not model[1].act_quantizer.calibrating


# ---- layers and export -------------------------------------------------------------------------

@pytest.mark.parametrize("per_channel", (False, True))
def test_layers_forward_equal_float_layer_on_quantized_weight(per_channel: bool) -> None:
    torch.manual_seed(1)
    for float_layer, x in ((torch.nn.Conv2d(3, 5, 3, padding=1), torch.randn(2, 3, 6, 6)),
                           (torch.nn.Conv1d(3, 4, 5, bias=False), torch.randn(2, 3, 9)),
                           (torch.nn.Linear(7, 4), torch.randn(5, 7))):
        cls = {torch.nn.Conv2d: UniQConv2d, torch.nn.Conv1d: UniQConv1d,
               torch.nn.Linear: UniQLinear}[type(float_layer)]
        q = cls.from_float(float_layer, 2, per_channel=per_channel)
        assert q.weight is float_layer.weight and q.bias is float_layer.bias
        wq = q.quantized_weight().detach()
        with torch.no_grad():
            saved = float_layer.weight.clone()
            float_layer.weight.copy_(wq)
            ref = float_layer(x)
            float_layer.weight.copy_(saved)
        torch.testing.assert_close(q(x), ref, rtol=0, atol=0)
        exp = q.qopt_export()
        assert torch.equal(exp["scale"] * exp["levels"][exp["codes"].long()], wq)  # bitwise
        assert exp["codes"].dtype == torch.uint8 and exp["axis"] == (0 if per_channel else None)
        if per_channel:
            std = saved.reshape(saved.shape[0], -1).std(dim=1)
            torch.testing.assert_close(q.weight_quantizer.delta, std * UNIQ_C_W[2])


def test_export_round_trip_through_qopt_export_quantized() -> None:
    """ENGINE-A's export_quantized picks up qopt_export(); load_quantized writes the quantized
    weight back, after which the forward is unchanged (re-quantizing a grid point is exact)."""
    qopt = pytest.importorskip("qopt")
    if not hasattr(qopt, "export_quantized"):
        pytest.skip("qopt.export_quantized not available")
    torch.manual_seed(4)
    model = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(16, 3))
    qopt.quantize_model(model, weights="uniq:3", axis=0)
    x = torch.randn(2, 2, 4, 4)
    y0 = model(x).detach()
    wq = [model[0].quantized_weight().detach(), model[3].quantized_weight().detach()]
    exported = qopt.export_quantized(model)
    assert sorted(exported) == ["0.weight", "3.weight"]
    assert exported["0.weight"]["codes"].dtype == torch.uint8
    qopt.load_quantized(model, exported)
    assert torch.equal(model[0].weight, wq[0]) and torch.equal(model[3].weight, wq[1])
    torch.testing.assert_close(model(x), y0, rtol=0, atol=0)


def test_weight_init_degenerate_slices() -> None:
    q = UniQWeight(2, per_channel=True, channels=2)
    q.init_from(torch.tensor([[0.0, 0.0], [3.0, 3.0]]))
    assert torch.all(q.delta > 0) and torch.isfinite(q(torch.zeros(2, 2))).all()


@pytest.mark.parametrize(("ctor", "exc", "word"), [
    (lambda: UniQWeight(0), ValueError, "bits"),
    (lambda: UniQWeight(2, per_channel=True), TypeError, "channels"),
    (lambda: UniQWeight(2, per_channel=1), TypeError, "per_channel"),
    (lambda: UniQActivation(17), ValueError, "bits"),
    (lambda: UniQLinear.from_float(torch.nn.Conv2d(1, 1, 1), 2), TypeError, "module"),
    (lambda: UniQConv2d.from_float(torch.nn.Conv2d(1, 1, 1), 99), ValueError, "bits"),
])
def test_bad_arguments(ctor: object, exc: type, word: str) -> None:
    with pytest.raises(exc, match=word):
        ctor()


def test_per_channel_shape_mismatch() -> None:
    q = UniQWeight(2, per_channel=True, channels=3)
    with pytest.raises(ValueError, match="per-channel"):
        q(torch.randn(4, 2))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("per_channel", (False, True))
def test_cuda_matches_cpu(per_channel: bool) -> None:
    torch.manual_seed(3)
    layer = torch.nn.Conv2d(3, 6, 3).double()
    x = torch.randn(4, 3, 8, 8, dtype=torch.float64).relu()
    res = []
    for dev in ("cpu", "cuda"):
        fl = torch.nn.Conv2d(3, 6, 3).double().to(dev)
        fl.load_state_dict(layer.state_dict())
        q = UniQConv2d.from_float(fl, 3, per_channel=per_channel, act_bits=4).double()
        y = q(x.to(dev))
        y.sum().backward()
        res.append([y.detach().cpu(), q.weight.grad.cpu(), q.weight_quantizer.delta.grad.cpu(),
                    q.act_quantizer.delta.grad.cpu()])
    for a, b in zip(*res):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
