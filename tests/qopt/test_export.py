"""export_quantized / load_quantized: codes × scale reproduce the weights bitwise; codes use the
smallest integer dtype; round trip through a fresh model."""

from __future__ import annotations

import pytest
import torch

import qopt
from qopt.export import dequantize, smallest_int_dtype
from theory.sets import Binary, Grid, Symmetric, Ternary, Uniform

CASES = [  # (set, axis, kind, codes dtype)
    (Binary(), None, "values", torch.int8),
    (Ternary(), 0, "values", torch.int8),
    (Uniform(4), 0, "values", torch.int8),
    (Uniform(9), None, "values", torch.int16),  # levels -255..255
    (Symmetric(2), None, "indices", torch.int8),
    (Symmetric(8), 0, "indices", torch.uint8),  # 256 levels: indices 0..255
    (Grid([-1, 0, 2.5], 0.1), None, "indices", torch.int8),
]


def _net(seed: int) -> torch.nn.Sequential:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3), torch.nn.Flatten(),
                               torch.nn.Linear(16, 3))


def _trained(qset, axis, dtype=torch.float32):
    net = _net(0).to(dtype)
    base = torch.optim.SGD([{"params": [net[0].weight, net[2].weight], "qset": qset,
                             "axis": axis}, {"params": [net[0].bias, net[2].bias]}], lr=0.05,
                           momentum=0.9)
    opt = qopt.QuantOptimizer(base, qopt.BinaryRelax(phase2_at=1))
    x = torch.randn(8, 2, 4, 4, dtype=dtype)
    for _ in range(3):
        opt.zero_grad()
        net(x).pow(2).mean().backward()
        opt.step()
    opt.end_epoch()
    opt.finalize()
    return net, opt


@pytest.mark.parametrize("qset,axis,kind,cdt", CASES, ids=lambda c: str(c))
def test_round_trip_exact(qset, axis, kind, cdt) -> None:
    net, opt = _trained(qset, axis)
    ex = qopt.export_quantized(net, opt)
    assert set(ex) == {"0.weight", "2.weight"}
    for name, e in ex.items():
        w = dict(net.named_parameters())[name].detach()
        assert e["kind"] == kind and e["codes"].dtype == cdt and e["axis"] == axis
        assert e["codes"].shape == w.shape and e["qset"] == qset.spec
        assert torch.equal(dequantize(e), w)  # bitwise
        if kind == "values":  # codes are the integer levels: codes * scale is the weight
            assert torch.equal(e["scale"] * e["codes"].to(e["scale"].dtype), w)
    fresh = _net(1)
    qopt.load_quantized(fresh, ex)
    for name in ex:
        assert torch.equal(dict(fresh.named_parameters())[name], dict(net.named_parameters())[name])
    assert not torch.equal(fresh[0].bias, net[0].bias)  # float tensors are not exported


def test_export_from_marked_modules_without_optimizer() -> None:
    net, opt = _trained(Ternary(), 0, torch.float64)
    with_opt = qopt.export_quantized(net, opt)
    for m in (net[0], net[2]):
        m.qopt_qset, m.qopt_axis = Ternary(), 0
    without = qopt.export_quantized(net)
    for name, e in without.items():
        assert torch.equal(dequantize(e), dict(net.named_parameters())[name].detach())
        assert torch.equal(e["codes"], with_opt[name]["codes"])
    with torch.no_grad():
        net[0].weight.add_(1e-3)  # no longer on the set
    with pytest.raises(ValueError, match="not exactly quantized"):
        qopt.export_quantized(net)


def test_smallest_int_dtype() -> None:
    assert smallest_int_dtype(-1, 1) == torch.int8
    assert smallest_int_dtype(0, 255) == torch.uint8
    assert smallest_int_dtype(0, 256) == torch.int16
    assert smallest_int_dtype(-200, 5) == torch.int16
    assert smallest_int_dtype(0, 2**20) == torch.int32
    with pytest.raises(ValueError):
        smallest_int_dtype(0, 2**64)


def test_bad_input() -> None:
    net, opt = _trained(Binary(), None)
    ex = qopt.export_quantized(net, opt)
    with pytest.raises(TypeError, match="model"):
        qopt.export_quantized("net", opt)
    with pytest.raises(TypeError, match="optimizer"):
        qopt.export_quantized(net, opt.base)
    with pytest.raises(ValueError, match="not a parameter"):
        qopt.load_quantized(net, {"nope.weight": ex["0.weight"]})
    with pytest.raises(ValueError, match="shape"):
        qopt.load_quantized(net, {"2.weight": ex["0.weight"]})
    with pytest.raises(TypeError, match="exported"):
        qopt.load_quantized(net, [ex])


def test_load_checks_every_value_of_every_entry() -> None:
    """Issue 18: code 5 in a ternary "values" entry (it would load as 5·α, outside Q) and a NaN
    scale are refused, naming the entry; the model is untouched when any entry is bad."""
    net, opt = _trained(Ternary(), 0)
    ex = qopt.export_quantized(net, opt)
    fresh = _net(1)
    before = {n: p.detach().clone() for n, p in fresh.named_parameters()}
    bad_code = {**ex["2.weight"], "codes": ex["2.weight"]["codes"].clone()}
    bad_code["codes"].view(-1)[3] = 5
    with pytest.raises(ValueError, match=r"'2\.weight'.*code 5 is not a level"):
        qopt.load_quantized(fresh, {**ex, "2.weight": bad_code})
    nan_scale = {**ex["0.weight"], "scale": ex["0.weight"]["scale"].clone()}
    nan_scale["scale"].view(-1)[1] = float("nan")
    with pytest.raises(ValueError, match=r"'0\.weight'.*scale must be finite"):
        qopt.load_quantized(fresh, {**ex, "0.weight": nan_scale})
    for n, p in fresh.named_parameters():
        assert torch.equal(p, before[n])  # nothing written


@pytest.mark.parametrize("key,make", [("codes", lambda t: t.to("meta")),
                                      ("codes", lambda t: t.to_sparse()),
                                      ("scale", lambda t: t.reshape(-1).to_sparse())])
def test_load_refuses_meta_and_sparse_fields(key, make) -> None:
    """Acceptance (issue 18, class of 'qopt.project on meta/sparse'): a meta or sparse field of
    an entry is a ValueError naming the tensor and the field, not a torch dispatch error."""
    net, opt = _trained(Ternary(), None)
    ex = qopt.export_quantized(net, opt)
    bad = {**ex["0.weight"], key: make(ex["0.weight"][key])}
    with pytest.raises(ValueError, match=rf"'0\.weight': {key} must be a dense tensor"):
        qopt.load_quantized(_net(1), {**ex, "0.weight": bad})


def test_a_zero_slice_exports_with_scale_zero_and_loads_back() -> None:
    """α = 0 is the projection of an all-zero slice (the least-squares scale of 0 is 0): the
    loader accepts it, so every export loads back."""
    net = _net(0)
    for m in (net[0], net[2]):
        m.qopt_qset, m.qopt_axis = Ternary(), 0
    with torch.no_grad():
        net[2].weight.copy_(torch.sign(net[2].weight) * 0.25)
        net[2].weight[1].zero_()
        net[0].weight.copy_(torch.sign(net[0].weight) * 0.5)
    ex = qopt.export_quantized(net)
    assert float(ex["2.weight"]["scale"].reshape(-1)[1]) == 0.0
    fresh = _net(1)
    qopt.load_quantized(fresh, ex)
    assert torch.equal(fresh[2].weight, net[2].weight)
