"""Packed int4/int2 export: round trip bit for bit through a file, and every malformed entry
refused with a ValueError naming the tensor."""

from __future__ import annotations

import copy

import pytest
import torch

from qopt import QuantOptimizer
from qopt.export_packed import export_packed, load_packed, pack_codes, unpack_codes
from theory.sets import NF4, Affine, Int, Ternary, Uniform


def test_pack_unpack_layout():
    codes = torch.tensor([1, 2, 3, 15, 0])
    p = pack_codes(codes, 4)
    assert p.tolist() == [1 | (2 << 4), 3 | (15 << 4), 0]
    assert torch.equal(unpack_codes(p, 4, 5), codes)
    c2 = torch.tensor([3, 0, 1, 2, 1])
    p2 = pack_codes(c2, 2)
    assert p2.tolist() == [3 | (1 << 4) | (2 << 6), 1]
    assert torch.equal(unpack_codes(p2, 2, 5), c2)
    with pytest.raises(ValueError, match="codes"):
        pack_codes(torch.tensor([4]), 2)


def _trained(qset, axis, g, dtype=torch.float32):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(21, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3))
    model = model.to(dtype)
    groups = [{"params": [model[0].weight, model[2].weight], "qset": qset, "axis": axis,
               "group_size": g}, {"params": [model[0].bias, model[2].bias]}]
    opt = QuantOptimizer(torch.optim.SGD(groups, lr=0.1), method="binaryconnect")
    for _ in range(2):
        opt.zero_grad()
        model(torch.randn(5, 21, dtype=dtype)).pow(2).sum().backward()
        opt.step()
    opt.finalize()
    return model, opt


@pytest.mark.parametrize("qset,axis,g", [(Affine(4), 0, 8), (NF4(), None, 5), (Int(4), 0, None),
                                         (Affine(2), None, None), (Ternary(), 0, 4),
                                         (Uniform(2), None, None)], ids=str)
def test_round_trip_bit_for_bit(qset, axis, g, tmp_path):
    model, opt = _trained(qset, axis, g)
    ex = export_packed(model, opt)
    bits = 2 if qset.n_levels <= 4 else 4
    assert all(e["bits"] == bits for e in ex.values())
    assert ex["0.weight"]["packed"].numel() == -(-126 // (8 // bits))
    torch.save(ex, tmp_path / "p.pt")
    fresh = copy.deepcopy(model)
    with torch.no_grad():
        for p in fresh.parameters():
            p.zero_()
    load_packed(fresh, tmp_path / "p.pt")
    for name in ("0.weight", "2.weight"):
        assert torch.equal(dict(fresh.named_parameters())[name],
                           dict(model.named_parameters())[name])


def test_float64_and_too_many_levels():
    model, opt = _trained(Affine(4), 0, 8, torch.float64)
    fresh = copy.deepcopy(model)
    load_packed(fresh, export_packed(model, opt))
    assert torch.equal(fresh[0].weight, model[0].weight)
    with pytest.raises(ValueError, match="levels"):
        export_packed(model, opt, bits=2)
    m8, o8 = _trained(Int(8), 0, None)
    with pytest.raises(ValueError, match="256 levels"):
        export_packed(m8, o8)


def _bad(ex, name, **change):
    e = dict(ex[name])
    e.update(change)
    return {**ex, name: e}


def test_every_malformed_entry_is_refused():
    model, opt = _trained(Affine(4), 0, 8)
    ex = export_packed(model, opt)
    e = ex["0.weight"]
    cases = {
        "format": _bad(ex, "0.weight", format="other"),
        "bits": _bad(ex, "0.weight", bits=3),
        "bytes": _bad(ex, "0.weight", packed=e["packed"][:-1]),
        "uint8": _bad(ex, "0.weight", packed=e["packed"].to(torch.int16)),
        "scale": _bad(ex, "0.weight", scale=e["scale"][:, :1]),
        "negative": _bad(ex, "0.weight", scale=-e["scale"]),
        "zero_point": _bad(ex, "0.weight", zero_point=e["zero_point"].to(torch.int32)),
        "shape": _bad(ex, "0.weight", shape=[6, 20]),
        "dtype": _bad(ex, "0.weight", dtype="int8"),
        "axis": _bad(ex, "0.weight", axis=5),
        "group_size": _bad(ex, "0.weight", group_size=0),
        "levels": _bad(ex, "0.weight", levels=e["levels"].flip(0)),
    }
    nf = export_packed(*_trained(NF4(), None, 5))
    w = nf["0.weight"]
    odd = dict(w, shape=[6, 21], packed=w["packed"].clone())
    odd["levels"] = w["levels"][:8]  # codes >= 8 now out of range
    cases["code range"] = {**nf, "0.weight": odd}
    m3 = torch.nn.Linear(3, 1)
    o3 = QuantOptimizer(torch.optim.SGD([{"params": [m3.weight], "qset": NF4()}], lr=0.1),
                        method="binaryconnect")
    x3 = export_packed(m3, o3)
    pb = x3["weight"]["packed"].clone()
    pb[-1] |= 0xF0  # 3 codes at 4 bits: the high nibble of byte 2 is padding
    cases["padding"] = {"weight": dict(x3["weight"], packed=pb)}
    for what, bad in cases.items():
        target = m3 if what == "padding" else copy.deepcopy(model)
        before = [p.detach().clone() for p in target.parameters()]
        with pytest.raises(ValueError, match="packed tensor"):
            load_packed(target, bad)
        assert all(torch.equal(a, b) for a, b in zip(before, target.parameters())), what
    with pytest.raises(ValueError, match="not a parameter"):
        load_packed(model, {"nope": e})
