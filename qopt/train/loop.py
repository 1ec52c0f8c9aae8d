r"""One training epoch and one evaluation pass.

Loss: cross-entropy for classification, :math:`\tfrac12\,\mathrm{mean}(y - y^*)^2` for
regression (the two-layer teacher of the STE paper, Yin et al. ICLR 2019). The hot loop does no
host-device sync: the running loss is accumulated on the device and read once per ``log_every``
steps and once per epoch; a non-finite loss is recorded on the device
(:class:`qopt.train.divergence.LossWatch`); diagnostics and the verification probe are computed
(and read) only every ``diag_every`` steps.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from qopt.train.distributed import DistInfo, all_reduce_sum


def loss_fn(task: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Mean loss of a batch for ``task``."""
    if task == "regression":
        return lambda out, y: 0.5 * (out.float().reshape(y.shape) - y.float()).pow(2).mean()
    return lambda out, y: F.cross_entropy(out.float(), y)


def autocast_ctx(device: torch.device, amp: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast when ``amp`` (no GradScaler needed for bf16: same exponent range as fp32).

    ``amp`` is on by default on CUDA (``amp='auto'``); ``amp='bf16'`` also turns on CPU autocast
    (slower on most CPUs, but it lets a run check its bf16 numerics without a GPU). Parameters,
    latent weights and optimizer state stay float32; only autocast-eligible ops run in bf16.
    """
    if amp and device.type in ("cuda", "cpu"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@dataclass
class EpochHooks:
    """What one training epoch records besides the update.

    Attributes:
        log: ``log(kind, step, epoch, values)`` (the metrics logger).
        log_every: a ``train`` record every N steps (0: none).
        diag_every: ``diag`` (+ ``probe``) records every N steps (0: none); quantized only.
        quantized: the optimizer is a QuantOptimizer (has ``diagnostics()``).
        probe: ``probe(opt) -> dict`` for the ``probe`` record (None: no probe records).
        watch: device-side record of the first non-finite loss (None: no watch).
        progress: a tqdm bar (``update(1)`` per step) or None.
        cost: ``cost(opt)`` after every step until it has reported the projection's share of
            the step (:class:`qopt.train.trainer.CostNote`), or None.
    """

    log: Callable[[str, int, int, dict], None]
    log_every: int = 0
    diag_every: int = 0
    quantized: bool = False
    probe: Callable[[Any], dict] | None = None
    watch: Any = None
    progress: Any = None
    cost: Callable[[Any], None] | None = None


def train_epoch(model: nn.Module, opt: Any, loader: Iterable, task: str, device: torch.device,
                amp: bool, step: int, epoch: int, hooks: EpochHooks) -> tuple[int, torch.Tensor]:
    """Run one epoch; returns (global step after it, mean minibatch loss as a 0-d tensor)."""
    model.train()
    lf = loss_fn(task)
    total = torch.zeros((), device=device, dtype=torch.float64)
    window = torch.zeros((), device=device, dtype=torch.float64)
    n = 0
    for x, y in loader:
        with autocast_ctx(device, amp):
            out = model(x)
        loss = lf(out, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        n += 1
        d = loss.detach().double()
        if hooks.watch is not None:
            d = hooks.watch.update(d, step)
        total += d
        window += d
        if hooks.log_every and step % hooks.log_every == 0:
            lr = opt.param_groups[0]["lr"]
            hooks.log("train", step, epoch, {"loss": (window / hooks.log_every).item(),
                                             "lr": lr})
            window.zero_()
        if hooks.quantized and hooks.diag_every and step % hooks.diag_every == 0:
            diag = {k: (v.item() if torch.is_tensor(v) else v)
                    for k, v in opt.diagnostics().items()}
            hooks.log("diag", step, epoch, diag)
            if hooks.probe is not None:
                hooks.log("probe", step, epoch, hooks.probe(opt))
        if hooks.progress is not None:
            hooks.progress.update(1)
        if hooks.cost is not None:
            hooks.cost(opt)
    return step, total / max(n, 1)


@torch.no_grad()
def evaluate(model: nn.Module, loader: Iterable, task: str, device: torch.device, amp: bool,
             info: DistInfo) -> dict[str, float]:
    """Mean loss (and accuracy for classification) over a split, summed over ranks."""
    was_training = model.training
    model.eval()
    acc = torch.zeros(3, device=device, dtype=torch.float64)  # loss sum, correct, count
    for x, y in loader:
        with autocast_ctx(device, amp):
            out = model(x)
        out = out.float()
        if task == "regression":
            acc[0] += 0.5 * (out.reshape(y.shape) - y.float()).pow(2).sum()
        else:
            acc[0] += F.cross_entropy(out, y, reduction="sum")
            acc[1] += (out.argmax(1) == y).sum()
        acc[2] += y.shape[0]
    all_reduce_sum(acc, info)
    model.train(was_training)
    loss_sum, correct, count = acc.tolist()
    res = {"loss": loss_sum / max(count, 1)}
    if task != "regression":
        res["acc"] = correct / max(count, 1)
    return res
