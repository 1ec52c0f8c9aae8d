"""Every method trains at group-wise and affine sets: the kept projection is the exact one.

After each step, for every method (BinaryConnect, BinaryRelax, BCGD, PARQ, ProxQuant), the
optimizer's P(latent) (``eval_quantized``) must equal ``qopt.project(latent, qset, axis,
group_size=g)`` bit for bit, its codes and scales must be those of the projection, and the
parameters must be finite; the state dict must carry group_size (a mismatch is refused).
"""

from __future__ import annotations

import pytest
import torch

from qopt import QuantOptimizer, param_groups, quantize_model
from qopt.projection import project
from theory.sets import NF4, Affine, Int

METHODS = ["binaryconnect", "binaryrelax", "bcgd", "parq", "proxquant"]


def _opt(model, qset, g, method):
    quantize_model(model, weights=qset, axis=0, group_size=g)
    base = torch.optim.SGD(param_groups(model), lr=0.05)
    return QuantOptimizer(base, method=method, epochs=2, steps_per_epoch=2)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("qset,g", [(Int(4), 8), (NF4(), 7), (Affine(2), 8), (Affine(3), None)],
                         ids=str)
def test_methods_keep_the_exact_blockwise_projection(method, qset, g):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(20, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2))
    opt = _opt(model, qset, g, method)
    assert opt.param_groups[0].get("group_size") == g
    for _ in range(4):
        opt.zero_grad()
        model(torch.randn(6, 20)).pow(2).mean().backward()
        opt.step()
        lat = opt._entries[0].latent
        ref = project(lat, qset, 0, group_size=g)
        with opt.eval_quantized():
            assert torch.equal(model[0].weight.detach(), ref.q)
        blocks = opt.quantized_blocks()[model[0].weight]
        assert torch.equal(blocks["codes"], ref.codes)
        assert torch.equal(blocks["scale"], ref.scale)
        if isinstance(qset, Affine):
            assert torch.equal(blocks["zero_point"], ref.zero_point)
        assert all(bool(torch.isfinite(p).all()) for p in model.parameters())
    # quantized_state: scale * levels[codes] is P(latent), bitwise, for every set
    codes, scale, levels, _ = opt.quantized_state()[model[0].weight]
    assert torch.equal(scale * levels[codes], ref.q)


def test_group_size_is_part_of_the_state_and_validated():
    torch.manual_seed(0)
    m1 = torch.nn.Sequential(torch.nn.Linear(20, 5))
    o1 = _opt(m1, Int(4), 8, "binaryconnect")
    sd = o1.state_dict()
    m2 = torch.nn.Sequential(torch.nn.Linear(20, 5))
    o2 = _opt(m2, Int(4), 4, "binaryconnect")
    with pytest.raises(ValueError, match="group_size"):
        o2.load_state_dict(sd)
    with pytest.raises(ValueError, match="group_size"):
        quantize_model(torch.nn.Linear(3, 3), weights="int:4", group_size=0)
    with pytest.raises(ValueError, match="group_size"):
        quantize_model(torch.nn.Linear(3, 3), weights=None, group_size=4)
