"""QuantReLU: forward against an independent numpy case formula, backward against the stated STE
and alpha-gradient formulas, finite differences where the true derivative exists.

Tolerances: float64 throughout; forward values are compared exactly (same single rounding), sums
of gradients to 1e-12 relative (summation order differs), finite differences (central, h = 1e-6
chosen so no code changes in [alpha - h, alpha + h], checked) to 1e-7.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from qopt.nn import QuantReLU, quant_relu
from qopt.nn.constants import CEIL_OPTIMAL_ALPHA, ROUND_OPTIMAL_ALPHA

BITS = (1, 2, 3, 4)


def np_ceil_relu(x: np.ndarray, a: float, bits: int) -> np.ndarray:
    """``docs/math/activation-quantizers.md#bcgd-quantizer`` by cases: 0 (x<=0); k a on
    ((k-1)a, ka], k < M; M a for x > (M-1)a."""
    big_m = 2 ** bits - 1
    conds = [x <= 0] + [((k - 1) * a < x) & (x <= k * a) for k in range(1, big_m)]
    conds.append(x > (big_m - 1) * a)
    vals = [0.0] + [k * a for k in range(1, big_m)] + [big_m * a]
    return np.select(conds, vals)


def np_round_relu(x: np.ndarray, a: float, bits: int) -> np.ndarray:
    """Nearest level of {0, a, ..., M a} by brute-force argmin (no ties for generic x)."""
    big_m = 2 ** bits - 1
    levels = a * np.arange(big_m + 1)
    return levels[np.argmin(np.abs(x[:, None] - levels[None, :]), axis=1)]


def np_alpha_grad(x: np.ndarray, a: float, bits: int, kind: str, forward: str) -> np.ndarray:
    big_m = 2 ** bits - 1
    above, inside = x > big_m * a, (x > 0) & (x <= big_m * a)
    if kind == "ae":  # the level index itself: sigma = a * k with k locally constant
        q = np_ceil_relu(x, a, bits) if forward == "ceil" else np_round_relu(x, a, bits)
        return q / a
    if kind == "pact":
        return np.where(above, big_m, 0.0)
    if kind == "lsq":
        q = np.ceil(x / a) if forward == "ceil" else np.rint(x / a)
        return np.where(above, big_m, np.where(inside, q - x / a, 0.0))
    inner = 2.0 ** (bits - 1) if kind == "mean" else 1.0
    return np.where(above, big_m, np.where(inside, inner, 0.0))


def _x(n: int = 4001, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 1.5, n)


@pytest.mark.parametrize("bits", BITS)
@pytest.mark.parametrize("forward", ["ceil", "round"])
def test_forward_matches_numpy_cases(bits: int, forward: str) -> None:
    x, a = _x(), 0.37
    m = QuantReLU(bits, alpha=a, forward=forward, dtype=torch.float64)
    out = m(torch.tensor(x)).numpy()
    ref = (np_ceil_relu if forward == "ceil" else np_round_relu)(x, a, bits)
    np.testing.assert_allclose(out, ref, rtol=1e-15, atol=0)
    levels = a * np.arange(2 ** bits)
    assert np.all(np.min(np.abs(out[:, None] - levels), axis=1) < 1e-15)  # values on the grid


@given(st.lists(st.floats(-10, 10, allow_nan=False), min_size=1, max_size=40),
       st.floats(0.01, 3.0), st.sampled_from(BITS))
def test_ceil_forward_property(xs: list[float], a: float, bits: int) -> None:
    x = np.asarray(xs)
    out = quant_relu(torch.tensor(x), torch.tensor(a, dtype=torch.float64), bits).numpy()
    big_m = 2 ** bits - 1
    # ceil-type: output >= relu(x) below the top level, and within one step above it
    below = x <= (big_m - 1) * a
    assert np.all(out[below] >= np.maximum(x[below], 0) - 1e-12 * a)
    assert np.all(out[below] - np.maximum(x[below], 0) <= a * (1 + 1e-12))
    assert np.all(out[~below] == pytest.approx(big_m * a, rel=1e-15))


@pytest.mark.parametrize("ste", ["identity", "relu", "clipped_relu"])
@pytest.mark.parametrize("forward", ["ceil", "round"])
def test_x_gradient_is_the_chosen_ste(ste: str, forward: str) -> None:
    x, a, bits = _x(), 0.3, 2
    xt = torch.tensor(x, requires_grad=True)
    gout = np.random.default_rng(1).normal(size=x.shape)
    m = QuantReLU(bits, alpha=a, forward=forward, ste=ste, dtype=torch.float64)
    m(xt).backward(torch.tensor(gout))
    mask = {"identity": np.ones_like(x), "relu": (x > 0) * 1.0,
            "clipped_relu": ((x > 0) & (x <= 3 * a)) * 1.0}[ste]
    np.testing.assert_array_equal(xt.grad.numpy(), gout * mask)


@pytest.mark.parametrize("kind", ["mean", "ae", "min", "pact", "lsq"])
@pytest.mark.parametrize("forward", ["ceil", "round"])
@pytest.mark.parametrize("bits", (1, 2, 4))
def test_alpha_gradient_formulas(kind: str, forward: str, bits: int) -> None:
    x, a = _x(), 0.29
    gout = np.random.default_rng(2).normal(size=x.shape)
    m = QuantReLU(bits, alpha=a, forward=forward, alpha_grad=kind, learn_alpha=True,
                  alpha_grad_rate=1.0, dtype=torch.float64)
    m(torch.tensor(x)).backward(torch.tensor(gout))
    ref = float(np.sum(gout * np_alpha_grad(x, a, bits, kind, forward)))
    assert m.alpha.grad.item() == pytest.approx(ref, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("forward", ["ceil", "round"])
@pytest.mark.parametrize("bits", (1, 2, 3))
def test_ae_alpha_gradient_is_the_true_derivative(forward: str, bits: int) -> None:
    """'ae' = d/dalpha of sum(g * sigma(x, alpha)) where it exists: central differences."""
    x, a, h = _x(501, seed=3), 0.41, 1e-6
    gout = torch.tensor(np.random.default_rng(4).normal(size=x.shape))
    xt = torch.tensor(x)

    def f(alpha: float) -> torch.Tensor:
        al = torch.tensor(alpha, dtype=torch.float64)
        return quant_relu(xt, al, bits, forward, alpha_grad=None)

    lo, hi = torch.round(f(a - h) / (a - h)), torch.round(f(a + h) / (a + h))
    assert torch.equal(lo, hi)  # codes constant on [a - h, a + h]
    fd = float(((f(a + h) - f(a - h)) * gout).sum()) / (2 * h)
    alpha = torch.tensor(a, dtype=torch.float64, requires_grad=True)
    quant_relu(xt, alpha, bits, forward, alpha_grad="ae").backward(gout)
    assert alpha.grad.item() == pytest.approx(fd, rel=1e-7)


def test_x_gradient_identity_ste_matches_fd_of_identity_proxy() -> None:
    """torch.autograd.gradcheck on the x-path is meaningless (sigma' = 0 a.e.); instead the
    backward must equal the Jacobian of the proxy mu(x) = clip(x, 0, M a) (clipped ReLU STE)."""
    x = torch.tensor(_x(200, seed=5), requires_grad=True)
    QuantReLU(2, alpha=0.5, dtype=torch.float64)(x).sum().backward()
    proxy = torch.func.vmap(torch.func.grad(lambda t: t.clamp(0.0, 1.5)))(x.detach())
    np.testing.assert_array_equal(x.grad.numpy(), proxy.numpy())


def test_bcgd_rate_and_clip() -> None:
    """BCGD code: grad_alpha = clamp(r * sum(g * d), -1, 1) with r = 0.01."""
    x = torch.tensor(_x(20000, seed=6))
    m = QuantReLU(4, alpha=0.1, learn_alpha=True, alpha_grad="mean", alpha_grad_rate=0.01,
                  alpha_grad_clip=1.0, dtype=torch.float64)
    m(x).sum().backward()
    raw = float(np.sum(np_alpha_grad(x.numpy(), 0.1, 4, "mean", "ceil")))
    assert abs(0.01 * raw) > 1.0  # the clamp is active here
    assert m.alpha.grad.item() == pytest.approx(float(np.clip(0.01 * raw, -1, 1)))


def test_lsq_default_rate_is_grad_scale() -> None:
    x = torch.tensor(_x(3000, seed=7)).reshape(30, 100)
    m = QuantReLU(3, alpha=0.2, forward="round", learn_alpha=True, dtype=torch.float64)
    assert m.alpha_grad == "lsq"
    m(x).sum().backward()
    ref = np.sum(np_alpha_grad(x.numpy().ravel(), 0.2, 3, "lsq", "round")) / np.sqrt(3000 * 7)
    assert m.alpha.grad.item() == pytest.approx(ref, rel=1e-12)


def test_alpha_fixed_or_learned() -> None:
    fixed = QuantReLU(2, alpha=0.5)
    assert "alpha" in dict(fixed.named_buffers()) and not list(fixed.parameters())
    learned = QuantReLU(2, learn_alpha=True)
    assert [n for n, _ in learned.named_parameters()] == ["alpha"]
    assert learned.alpha.item() == pytest.approx(CEIL_OPTIMAL_ALPHA[2], rel=1e-7)
    assert QuantReLU(2, forward="round").alpha.item() == pytest.approx(ROUND_OPTIMAL_ALPHA[2],
                                                                      rel=1e-7)
    assert QuantReLU(4, init="bcgd").alpha.item() == pytest.approx(0.1946, rel=1e-7)
    x = torch.randn(10, requires_grad=True)
    fixed(x).sum().backward()  # no gradient into a buffer
    assert fixed.alpha.grad is None


def test_alpha_min_clamp_forward_only() -> None:
    m = QuantReLU(1, alpha=1.0, learn_alpha=True, alpha_grad="ae")
    with torch.no_grad():
        m.alpha.fill_(-2.0)
    y = m(torch.tensor([0.5, -1.0]))
    assert y.tolist() == pytest.approx([1e-3, 0.0])
    y.sum().backward()
    assert m.alpha.grad.item() == pytest.approx(1.0)  # straight through the clamp


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_low_precision_dtypes(dtype: torch.dtype) -> None:
    x = torch.linspace(-1, 2, 101, dtype=dtype, requires_grad=True)
    m = QuantReLU(2, alpha=0.5, learn_alpha=True)
    y = m(x)
    assert y.dtype == dtype
    y.sum().backward()
    assert x.grad.dtype == dtype and m.alpha.grad.dtype == torch.float32


@pytest.mark.parametrize(("kwargs", "exc", "word"), [
    ({"bits": 0}, ValueError, "bits"), ({"bits": 17}, ValueError, "bits"),
    ({"bits": 2.0}, TypeError, "bits"), ({"bits": True}, TypeError, "bits"),
    ({"bits": 2, "ste": "tanh"}, ValueError, "ste"),
    ({"bits": 2, "alpha_grad": "exact"}, ValueError, "alpha_grad"),
    ({"bits": 2, "forward": "floor"}, ValueError, "forward"),
    ({"bits": 2, "alpha": 0.0}, ValueError, "alpha"),
    ({"bits": 2, "alpha": float("nan")}, ValueError, "alpha"),
    ({"bits": 2, "learn_alpha": 1}, TypeError, "learn_alpha"),
    ({"bits": 3, "init": "bcgd"}, ValueError, "init"),
    ({"bits": 2, "alpha_grad_clip": -1.0}, ValueError, "alpha_grad_clip"),
])
def test_bad_arguments(kwargs: dict, exc: type, word: str) -> None:
    with pytest.raises(exc, match=word):
        QuantReLU(**kwargs)


@pytest.mark.parametrize("forward", ["ceil", "round"])
def test_torch_gradcheck_on_alpha_ae(forward: str) -> None:
    """torch.autograd.gradcheck on the alpha path with 'ae' (x is held constant: its STE is not
    a derivative). Generic x and alpha: no code changes within gradcheck's eps = 1e-6."""
    x = torch.tensor(_x(300, seed=8))
    alpha = torch.tensor(0.43, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a: quant_relu(x, a, 3, forward, alpha_grad="ae"), (alpha,), eps=1e-6, atol=1e-7)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("kind", ["mean", "ae", "lsq"])
def test_cuda_matches_cpu(kind: str) -> None:
    x = torch.tensor(_x(5000, seed=9))
    outs = []
    for dev in ("cpu", "cuda"):
        m = QuantReLU(3, alpha=0.3, learn_alpha=True, alpha_grad=kind, dtype=torch.float64,
                      device=dev)
        xd = x.to(dev).requires_grad_(True)
        y = m(xd)
        y.backward(torch.ones_like(y))
        outs.append((y.cpu(), xd.grad.cpu(), m.alpha.grad.cpu()))
    torch.testing.assert_close(outs[0][0], outs[1][0], rtol=0, atol=0)
    torch.testing.assert_close(outs[0][1], outs[1][1], rtol=0, atol=0)
    torch.testing.assert_close(outs[0][2], outs[1][2], rtol=1e-12, atol=1e-12)
