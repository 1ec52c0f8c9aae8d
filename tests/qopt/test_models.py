"""Models: shapes, the papers' parameter counts, one activation module per activation, and the
option-A shortcut / two-layer forward against independent numpy computations."""

import numpy as np
import pytest
import torch
from torch import nn

from qopt.models import CNN1D, MLP, MODELS, ResNetCifar, TwoLayer, build_model
from qopt.models.resnet_cifar import ShortcutA


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("name,shape", [
    ("mlp", (40,)), ("cnn1d", (40,)), ("cnn2d", (1, 8, 8)), ("cnn2d", (1, 28, 28)),
    ("resnet20", (3, 32, 32)), ("vgg11", (3, 32, 32)),
])
def test_output_shape_and_finite(name, shape):
    torch.manual_seed(0)
    m = build_model(name, shape, 10)
    out = m(torch.randn(3, *shape))
    assert out.shape == (3, 10)
    assert torch.isfinite(out).all()


def test_registry_covers_the_issue_models():
    for name in ("mlp", "cnn1d", "cnn2d", "resnet20", "resnet32", "resnet44", "resnet56",
                 "vgg11", "vgg16", "twolayer"):
        assert name in MODELS


@pytest.mark.parametrize("depth,count", [(20, 269_722), (32, 464_154), (44, 658_586),
                                         (56, 853_018)])
def test_resnet_parameter_counts_match_he_et_al(depth, count):
    # He et al. 2016 / the BCGD code's CifarResNet with option-A shortcuts: 0.27M for ResNet-20
    assert n_params(ResNetCifar(depth, 10)) == count


def test_vgg11_parameter_count_matches_released_code():
    # released BinaryRelax/BCGD code's VGG-11: conv layers with bias, BN, one FC 512 -> 10
    assert n_params(build_model("vgg11", (3, 32, 32), 10)) == 9_231_114


def test_every_activation_is_its_own_relu_module():
    m = ResNetCifar(20)
    relus = [mod for mod in m.modules() if isinstance(mod, nn.ReLU)]
    assert len(relus) == 1 + 2 * 9
    assert len({id(r) for r in relus}) == len(relus)
    # and the forward uses all of them: hook counts
    calls = []
    for r in relus:
        r.register_forward_hook(lambda *a: calls.append(1))
    m(torch.randn(2, 3, 32, 32))
    assert len(calls) == len(relus)


def test_shortcut_a_is_subsample_plus_zero_channels():
    x = torch.randn(2, 16, 8, 8)
    y = ShortcutA(16, 32, 2)(x).numpy()
    xn = x.numpy()
    expect = np.concatenate([xn[:, :, ::2, ::2], np.zeros((2, 16, 4, 4), np.float32)], axis=1)
    np.testing.assert_array_equal(y, expect)


def test_twolayer_forward_equals_formula_with_given_activation():
    # y = v^T sigma(Z w) with sigma = 1{x > 0}; numpy recomputation is the independent side
    torch.manual_seed(0)
    step = type("Step", (nn.Module,), {"forward": lambda self, x: (x > 0).to(x.dtype)})()
    m = TwoLayer(5, 4, activation=step)
    z = torch.randn(7, 5, 4)
    w, v = m.w.detach().numpy(), m.v.detach().numpy()
    expect = ((z.numpy() @ w) > 0).astype(np.float32) @ v
    np.testing.assert_allclose(m(z).detach().numpy(), expect, rtol=1e-6, atol=1e-6)


def test_bad_arguments_raise_value_errors_naming_the_argument():
    with pytest.raises(ValueError, match="model must be one of"):
        build_model("resnet7", (3, 32, 32), 10)
    with pytest.raises(ValueError, match="depth"):
        ResNetCifar(21)
    with pytest.raises(ValueError, match="hidden"):
        MLP(10, 2, hidden=(0,))
    with pytest.raises(TypeError, match="channels"):
        CNN1D(channels=2.5)
    with pytest.raises(ValueError, match="model_args"):
        build_model("mlp", (40,), 10, widths=3)
    with pytest.raises(ValueError, match="input must have shape"):
        TwoLayer(3, 2, activation=nn.Identity())(torch.randn(2, 2, 3))
