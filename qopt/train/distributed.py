"""Data-parallel context: the same code path for one process and for ``torchrun``.

``torchrun --nproc_per_node K -m qopt train ...`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR``/``MASTER_PORT``; :func:`init_distributed` then joins the process group (NCCL on
CUDA, gloo on CPU) and the trainer wraps the model in ``DistributedDataParallel``. Without those
variables it is a no-op (rank 0 of 1).

Correctness of the quantized optimizer under DDP (derived here): DDP all-reduces (averages) the
gradients before ``optimizer.step()``, and all ranks start from the same weights (DDP broadcasts
rank 0's parameters and buffers at construction) and the same optimizer state. Every
quantization method is a deterministic function of (latent weights, averaged gradient,
optimizer state), so every rank computes the same latent weights and the same projection; no
extra communication is needed. The test ``tests/qopt/test_ddp.py`` checks the latent weights are
bitwise identical across ranks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """Rank, world size, local rank, and whether a process group is active."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    active: bool = False
    owned: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device_type: str) -> DistInfo:
    """Join the torchrun process group if the environment asks for one."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    owned = not dist.is_initialized()
    if owned:
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
    return DistInfo(rank, world, local, True, owned)


def all_reduce_sum(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Sum a tensor over ranks (identity for one process)."""
    if info.active:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def barrier(info: DistInfo) -> None:
    """Synchronise all ranks (no-op for one process)."""
    if info.active:
        dist.barrier()


def cleanup(info: DistInfo) -> None:
    """Leave the process group (only if :func:`init_distributed` created it)."""
    if info.owned and dist.is_initialized():
        dist.destroy_process_group()


def _flat_state(obj: object, out: list[torch.Tensor]) -> None:
    if isinstance(obj, torch.Tensor):
        if obj.is_floating_point() or obj.dtype in (torch.int64, torch.int32, torch.int8,
                                                    torch.uint8, torch.bool):
            out.append(obj.detach().reshape(-1).double())
    elif isinstance(obj, dict):
        for k in sorted(obj, key=str):
            _flat_state(obj[k], out)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _flat_state(v, out)


def ranks_identical(states: list[object], info: DistInfo, device: torch.device) -> bool:
    """True iff every tensor in ``states`` (model / optimizer state dicts, latent weights
    included) is BITWISE equal to rank 0's. One broadcast of the flattened state; no-op
    (True) for a single process."""
    if not info.active:
        return True
    flat: list[torch.Tensor] = []
    for s in states:
        _flat_state(s, flat)
    mine = torch.cat(flat).to(device) if flat else torch.zeros(0, device=device)
    ref = mine.clone()
    dist.broadcast(ref, src=0)
    bad = torch.tensor([0.0 if torch.equal(mine, ref) else 1.0], device=device)
    dist.all_reduce(bad, op=dist.ReduceOp.SUM)
    return bool(bad.item() == 0)


def sync_buffers(module: torch.nn.Module, info: DistInfo) -> None:
    """Broadcast rank 0's buffers (BatchNorm running statistics): DDP broadcasts them at the
    START of every forward, so after the last training step each rank holds its own update;
    this makes evaluation and checkpoints use one model."""
    if info.active:
        for b in module.buffers():
            dist.broadcast(b, src=0)
