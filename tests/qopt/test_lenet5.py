"""LeNet-5 (STE paper's MNIST network): shapes, parameter count, BN before every activation
(standardised pre-activations), size arithmetic, quantization hooks, argument errors."""

import pytest
import torch
from torch import nn

import qopt
from qopt.models import MODELS, LeNet5, build_model
from qopt.models.lenet5 import lenet5_feature_size


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("shape", [(1, 28, 28), (28, 28)])
def test_registry_builds_for_mnist_shapes(shape):
    torch.manual_seed(0)
    assert "lenet5" in MODELS
    m = build_model("lenet5", shape, 10)
    out = m(torch.randn(4, *shape))
    assert out.shape == (4, 10) and torch.isfinite(out).all()


def test_parameter_count_is_the_layer_table():
    # conv1 1*6*25, conv2 6*16*25, fc1 400*120, fc2 120*84 (no biases: BN follows), fc3 84*10+10;
    # BN without affine has no parameters, with affine 2 per channel/unit
    base = 1 * 6 * 25 + 6 * 16 * 25 + 400 * 120 + 120 * 84 + 84 * 10 + 10
    assert n_params(LeNet5()) == base == 61_480
    assert n_params(LeNet5(bn_affine=True)) == base + 2 * (6 + 16 + 120 + 84)


def test_feature_size_formula_28_pad2_equals_32_pad0():
    assert lenet5_feature_size(28, 28, 2) == (5, 5)
    assert lenet5_feature_size(32, 32, 0) == (5, 5)
    assert lenet5_feature_size(36, 28, 2) == (7, 5)
    m = LeNet5(input_size=(32, 32), padding=0)
    assert m(torch.randn(2, 1, 32, 32)).shape == (2, 10)


def test_every_activation_input_is_batch_standardised():
    # BN without scale/shift right before each ReLU: in train mode every channel of every ReLU
    # input has batch mean 0 and (biased) variance 1 up to BN's eps
    torch.manual_seed(1)
    m = LeNet5().train()
    seen = []
    for mod in m.modules():
        if isinstance(mod, nn.ReLU):
            mod.register_forward_hook(lambda _m, inp, _o: seen.append(inp[0].detach()))
    m(torch.randn(64, 1, 28, 28) * 3 + 1)
    assert len(seen) == 4
    for x in seen:
        dims = [0, 2, 3] if x.dim() == 4 else [0]
        assert torch.allclose(x.mean(dims), torch.zeros(()), atol=1e-5)
        assert torch.allclose(x.var(dims, unbiased=False), torch.ones(()), atol=1e-3)


def test_quantize_model_replaces_the_four_relus_and_marks_weights():
    m = LeNet5()
    qopt.quantize_model(m, weights="binary", activations={"bits": 2}, keep_float=("last",))
    kinds = [type(mod).__name__ for mod in m.modules()]
    assert kinds.count("QuantReLU") == 4 and kinds.count("ReLU") == 0
    groups = [g for g in qopt.param_groups(m) if g.get("qset") is not None and g["params"]]
    quantized = {id(p) for g in groups for p in g["params"]}
    assert id(m.classifier.weight) not in quantized
    assert id(m.features[0].weight) in quantized and id(m.fc[3].weight) in quantized


def test_a_few_sgd_steps_fit_a_small_batch():
    torch.manual_seed(0)
    m = LeNet5()
    x, y = torch.randn(32, 1, 28, 28), torch.randint(0, 10, (32,))
    opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    first = None
    for _ in range(30):
        loss = nn.functional.cross_entropy(m(x), y)
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.2 * first


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="larger input"):
        build_model("lenet5", (1, 8, 8), 10)  # the 8x8 digits are too small
    with pytest.raises(ValueError, match="channels must have 2"):
        LeNet5(channels=(6,))
    with pytest.raises(ValueError, match="hidden\\[0\\]"):
        LeNet5(hidden=(0, 84))
    with pytest.raises(TypeError, match="bn_affine"):
        LeNet5(bn_affine="yes")
    with pytest.raises(ValueError, match="padding"):
        lenet5_feature_size(28, 28, -1)
    with pytest.raises(ValueError, match="built for 28x28"):
        LeNet5()(torch.randn(2, 1, 32, 32))
    with pytest.raises(ValueError, match="bad model_args"):
        build_model("lenet5", (1, 28, 28), 10, width=3)
