"""quantize_model / param_groups on a small CNN and an MLP defined here."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from qopt import param_groups, quantize_model
from qopt.nn import QuantReLU, UniQConv2d, UniQLinear
from theory.sets import Binary, Ternary, Uniform


class SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
            nn.Conv2d(4, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def mlp() -> nn.Sequential:
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(),
                         nn.Linear(16, 3))


def _layers(model: nn.Module) -> dict[str, nn.Module]:
    return {n: m for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}


def test_mark_qset_keep_last_and_relus() -> None:
    torch.manual_seed(0)
    model = SmallCNN()
    x = torch.randn(2, 1, 6, 6)
    out = quantize_model(model, weights=Ternary(), axis=0,
                         activations={"bits": 2, "ste": "relu"}, keep_float=["last"])
    assert out is model
    marks = {n: getattr(m, "qopt_qset", None) for n, m in _layers(model).items()}
    assert marks == {"features.0": Ternary(), "features.3": Ternary(), "head": None}
    assert model.features[0].qopt_axis == 0
    relus = [m for m in model.modules() if isinstance(m, QuantReLU)]
    assert len(relus) == 2 and relus[0] is not relus[1] and relus[0].ste == "relu"
    assert not any(isinstance(m, nn.ReLU) for m in model.modules())
    y = model(x)  # still runs; activations take values in the 2-bit grid
    assert y.shape == (2, 3)
    h = model.features[:3](x).detach()
    a = relus[0].alpha.detach()
    assert torch.allclose(h / a, torch.round(h / a)) and float(h.max()) <= 3 * float(a) + 1e-6


def test_keep_float_names_first_and_containers() -> None:
    model = mlp()
    quantize_model(model, weights="binary", keep_float=["first", "5"])
    marks = {n: getattr(m, "qopt_qset", None) for n, m in _layers(model).items()}
    assert marks == {"1": None, "3": Binary(), "5": None}
    cnn = SmallCNN()
    quantize_model(cnn, weights=Uniform(3), activations={"bits": 4}, keep_float=["features"])
    assert all(getattr(m, "qopt_qset", None) is None for m in cnn.features.modules())
    assert cnn.head.qopt_qset == Uniform(3)
    assert sum(isinstance(m, nn.ReLU) for m in cnn.modules()) == 2  # inside a kept container


def test_requantize_with_keep_float_removes_marks() -> None:
    model = mlp()
    quantize_model(model, weights=Binary())
    quantize_model(model, weights=Binary(), keep_float=["last"])
    assert not hasattr(model[5], "qopt_qset") and model[3].qopt_qset == Binary()


def test_shared_relu_stays_shared() -> None:
    relu = nn.ReLU()
    model = nn.Sequential(nn.Linear(3, 3), relu, nn.Linear(3, 3), relu)
    quantize_model(model, activations={"bits": 2})
    assert isinstance(model[1], QuantReLU) and model[1] is model[3]


def test_uniq_swap_per_channel_and_param_groups() -> None:
    torch.manual_seed(0)
    model = SmallCNN()
    w0 = model.features[3].weight
    quantize_model(model, weights="uniq:2", axis=0, keep_float=["first", "last"],
                   activations={"quantizer": "uniq", "bits": 4})
    assert type(model.features[0]) is nn.Conv2d and type(model.head) is nn.Linear
    conv = model.features[3]
    assert isinstance(conv, UniQConv2d) and conv.weight is w0
    assert conv.weight_quantizer.per_channel and conv.weight_quantizer.delta.shape == (8,)
    assert conv.act_quantizer is not None and conv.act_quantizer.bits == 4
    assert isinstance(model.features[2], nn.ReLU)  # UniQ activations: ReLUs stay float
    model(torch.randn(2, 1, 6, 6)).sum().backward()
    assert conv.weight_quantizer.delta.grad is not None
    groups = param_groups(model, no_decay=("delta", "alpha"), weight_decay=1e-4)
    assert all("qset" not in g for g in groups)
    nd = [g for g in groups if g["weight_decay"] == 0.0]
    assert len(nd) == 1 and sorted(nd[0]["names"]) == [
        "features.3.act_quantizer.delta", "features.3.weight_quantizer.delta"]
    n_params = sum(len(g["params"]) for g in groups)
    assert n_params == len(list(model.parameters()))


def test_uniq_first_layer_input_stays_float() -> None:
    model = mlp()
    quantize_model(model, weights="uniq:3", activations={"quantizer": "uniq", "bits": 3})
    assert all(isinstance(model[i], UniQLinear) for i in (1, 3, 5))
    assert model[1].act_quantizer is None and model[3].act_quantizer is not None


def test_param_groups_for_quant_optimizer() -> None:
    model = SmallCNN()
    quantize_model(model, weights=Binary(), activations={"bits": 2, "learn_alpha": True},
                   keep_float=["last"])
    model.features[3].qopt_axis = 0  # a second (qset, axis) pair -> a second group
    groups = param_groups(model, no_decay=("alpha",), lr=0.1)
    q = [g for g in groups if "qset" in g]
    assert [(g["qset"], g["axis"], g["names"]) for g in q] == [
        (Binary(), None, ["features.0.weight"]), (Binary(), 0, ["features.3.weight"])]
    assert q[0]["params"][0] is model.features[0].weight
    assert all(g["lr"] == 0.1 for g in groups)
    floats = [g for g in groups if "qset" not in g]
    names = [n for g in floats for n in g["names"]]
    assert "head.weight" in names and "features.2.alpha" in names
    assert [g for g in floats if "features.2.alpha" in g["names"]][0]["weight_decay"] == 0.0
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    torch.optim.SGD(groups, lr=0.1)  # accepted by torch.optim as is


@pytest.mark.parametrize(("kwargs", "exc", "word"), [
    ({"weights": "uniq:0"}, ValueError, "bits"),
    ({"weights": "uniq:x"}, ValueError, "weights"),
    ({"weights": "uniform:99"}, ValueError, "weights"),
    ({"weights": 3}, TypeError, "weights"),
    ({"weights": Binary(), "keep_float": ["nope"]}, ValueError, "keep_float"),
    ({"weights": Binary(), "keep_float": [1]}, TypeError, "keep_float"),
    ({"weights": Binary(), "axis": 4}, ValueError, "axis"),
    ({"weights": Binary(), "axis": True}, TypeError, "axis"),
    ({"weights": "uniq:2", "axis": 1}, ValueError, "axis"),
    ({"activations": {"bits": 0}}, ValueError, "bits"),
    ({"activations": {"bits": 2, "ste": "bogus"}}, ValueError, "ste"),
    ({"activations": {"bits": 2, "alpha_grad": "bogus"}}, ValueError, "alpha_grad"),
    ({"activations": {"bits": 2, "colour": 1}}, ValueError, "activations"),
    ({"activations": 4}, TypeError, "activations"),
    ({"activations": {"quantizer": "uniq", "bits": 2}}, ValueError, "uniq"),
])
def test_bad_input(kwargs: dict, exc: type, word: str) -> None:
    with pytest.raises(exc, match=word):
        quantize_model(mlp(), **kwargs)


def test_bad_model() -> None:
    with pytest.raises(TypeError, match="model"):
        quantize_model("not a module", weights=Binary())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="model"):
        param_groups(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="root"):
        quantize_model(nn.Linear(2, 2), weights="uniq:2")
    lin = quantize_model(nn.Linear(2, 2), weights=Ternary())  # a root layer can be marked
    assert lin.qopt_qset == Ternary()


def test_new_modules_follow_model_dtype() -> None:
    model = mlp().double()
    quantize_model(model, weights="uniq:4", activations={"bits": 3, "learn_alpha": True})
    assert model[2].alpha.dtype == torch.float64
    assert model[3].weight_quantizer.delta.dtype == torch.float64
    y = model(torch.randn(2, 12, dtype=torch.float64))
    assert y.dtype == torch.float64
