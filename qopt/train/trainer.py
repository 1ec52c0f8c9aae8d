r"""The training driver: one function, :func:`train`, for a single process and for ``torchrun``.

Per epoch :math:`e`: one pass over the (seeded, epoch-determined) shuffled training set with the
optimizer (quantized methods update latent weights and keep the network's weights at the
quantized / relaxed point), then evaluation ON THE EXACTLY QUANTIZED WEIGHTS
(``QuantOptimizer.eval_quantized()``: every quantized tensor holds :math:`P_Q(w)` during the
pass), the learning-rate schedule step, ``QuantOptimizer.end_epoch()`` (λ / ρ continuation,
phase switch), an ``eval`` record in ``metrics.jsonl`` and an atomic checkpoint. At the end,
``finalize()`` writes :math:`P_Q(w)` into the model for good, ``model.pt`` (+ ``quantized.pt``,
the integer codes) and finally ``result.json`` (its presence marks the run finished).

Run directory format: API.md ("Run directory"). SOURCE: derived here; the epoch structure
(continuation once per epoch, evaluation of the quantized net) follows the released codes
(papers.md §B-D).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch

from qopt.data import TensorLoader, load_data
from qopt.train.checkpoint import (
    check_metrics_log,
    load_checkpoint,
    remove_checkpoints,
    restore_checkpoint,
    save_checkpoint,
)
from qopt.train.config import TrainConfig, config_diff
from qopt.train.distributed import (
    DistInfo,
    barrier,
    cleanup,
    init_distributed,
    ranks_identical,
    sync_buffers,
)
from qopt.train.io import atomic_torch_save, atomic_write_json, read_json
from qopt.train.lock import RunLock
from qopt.train.loop import evaluate, train_epoch
from qopt.train.metrics import MetricsLogger, truncate_metrics
from qopt.train.seeding import rng_state, seed_everything, set_rng_state
from qopt.train.setup import build_model_for, build_optimizer, is_quant_optimizer

EVAL_BATCH = 1000


def resolve_device(spec: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> ``cuda:<local_rank>`` when CUDA is available, else ``cpu``."""
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if spec == "cuda":
        spec = f"cuda:{local_rank}"
    dev = torch.device(spec)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {spec!r} requested but CUDA is not available")
        torch.cuda.set_device(dev)
    return dev


def _eval_ctx(opt: Any) -> contextlib.AbstractContextManager:
    return opt.eval_quantized() if is_quant_optimizer(opt) else contextlib.nullcontext()


def train(cfg: TrainConfig, run_dir: str | os.PathLike, *, resume: bool = True,
          stop_after_epochs: int | None = None, progress: bool | None = None) -> dict | None:
    """Train ``cfg`` into ``run_dir``; returns the result dict (``None`` if stopped early).

    Args:
        cfg: the run configuration (validated here before anything else happens).
        run_dir: the run directory (created).
        resume: continue from ``checkpoint.pt`` if present; a finished run (``result.json``
            present) is returned as is without training. ``False`` starts afresh.
        stop_after_epochs: stop (after checkpointing) once this many epochs ran in this call:
            an orderly interruption, used by tests and by time-sliced runners.
        progress: tqdm bar; default: only when stderr is a terminal (and on rank 0).
    """
    cfg = cfg.validate()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if resume and (run_dir / "result.json").exists():
        return read_json(run_dir / "result.json")
    with RunLock(run_dir, enabled=int(os.environ.get("RANK", "0")) == 0):
        if cfg.num_threads:
            torch.set_num_threads(cfg.num_threads)
        info = init_distributed("cuda" if cfg.device.startswith("cuda") or (
            cfg.device == "auto" and torch.cuda.is_available()) else "cpu")
        try:
            return _train(cfg, run_dir, info, resume, stop_after_epochs, progress)
        finally:
            cleanup(info)


def _train(cfg: TrainConfig, run_dir: Path, info: DistInfo, resume: bool,
           stop_after: int | None, progress: bool | None) -> dict | None:
    device = resolve_device(cfg.device, info.local_rank)
    amp = cfg.amp == "bf16" or (cfg.amp == "auto" and device.type == "cuda")
    seed_everything(cfg.seed, cfg.deterministic)
    bundle = load_data(cfg.dataset, cfg.data_dir, **cfg.dataset_args)
    model = build_model_for(cfg, bundle).to(device)
    n_train = bundle.x_train.shape[0]  # steps per epoch as len(train_loader) below
    spe = n_train // cfg.batch_size if info.active and n_train % cfg.batch_size else \
        -(-n_train // cfg.batch_size)
    opt, sched = build_optimizer(cfg, model, steps_per_epoch=spe)
    quantized = is_quant_optimizer(opt)
    if quantized and cfg.diag_every:
        opt.record_every = cfg.diag_every
    ckpt = load_checkpoint(run_dir, device) if resume else None
    if ckpt is not None and (run_dir / "config.json").exists():
        diff = config_diff(read_json(run_dir / "config.json"), cfg.to_dict())
        if diff:
            raise ValueError(f"cannot resume {str(run_dir)!r}: its checkpoint was made with a "
                             f"different config (fields {diff}); use --no-resume or another "
                             "run directory")
    start_epoch, step, history, wall = 0, 0, [], 0.0
    if ckpt is not None:
        restore_checkpoint(ckpt, model, opt, sched, run_dir)
        set_rng_state(ckpt["rng"])
        start_epoch, step, history = ckpt["epoch"], ckpt["step"], ckpt["history"]
        wall = ckpt.get("wall_s", 0.0)
        if info.is_main:
            gap = check_metrics_log(run_dir, ckpt)
            if gap:
                print(f"warning: resuming {str(run_dir)!r}: {gap}", file=sys.stderr)
            truncate_metrics(run_dir, ckpt["metrics_offset"])
    elif info.is_main:
        remove_checkpoints(run_dir)
        for name in ("metrics.jsonl", "model.pt", "quantized.pt"):
            (run_dir / name).unlink(missing_ok=True)
        atomic_write_json(run_dir / "config.json", {
            **cfg.to_dict(), "data": {"name": bundle.name, "task": bundle.task,
                                      "input_shape": list(bundle.input_shape),
                                      "num_classes": bundle.num_classes,
                                      "n_train": int(bundle.x_train.shape[0]),
                                      "n_test": int(bundle.x_test.shape[0]), **bundle.meta},
            "world_size": info.world, "device": str(device)})
    barrier(info)
    if ckpt is None and cfg.method == "uniq":
        _calibrate_uniq(model, bundle, cfg.batch_size, device)

    net: torch.nn.Module = model
    if info.active:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    if cfg.compile:
        net = torch.compile(net)  # type: ignore[assignment]
    n_train = bundle.x_train.shape[0]
    train_loader = TensorLoader(
        bundle.x_train, bundle.y_train, cfg.batch_size, shuffle=True, seed=cfg.seed,
        device=device, rank=info.rank, world=info.world, transform=bundle.train_transform,
        drop_last=info.active and n_train % cfg.batch_size != 0)
    eval_bs = EVAL_BATCH * info.world
    test_loader = TensorLoader(bundle.x_test, bundle.y_test, eval_bs, shuffle=False,
                               device=device, rank=info.rank, world=info.world,
                               transform=bundle.test_transform)
    trainset_loader = TensorLoader(bundle.x_train, bundle.y_train, eval_bs, shuffle=False,
                                   device=device, rank=info.rank, world=info.world,
                                   transform=bundle.test_transform)
    logger = MetricsLogger(run_dir, enabled=info.is_main)
    show = info.is_main and (sys.stderr.isatty() if progress is None else progress)
    bar = None
    if show:
        from tqdm import tqdm

        bar = tqdm(total=cfg.epochs * len(train_loader), initial=start_epoch * len(train_loader),
                   desc=run_dir.name, leave=False, dynamic_ncols=True)
    try:
        for epoch in range(start_epoch, cfg.epochs):
            t0 = time.perf_counter()
            train_loader.set_epoch(epoch)
            lr = opt.param_groups[0]["lr"]
            step, batch_loss = train_epoch(net, opt, train_loader, bundle.task, device, amp, step,
                                           epoch, logger.log, cfg.log_every, cfg.diag_every,
                                           quantized, bar)
            sync_buffers(model, info)
            with _eval_ctx(opt):
                te = evaluate(model, test_loader, bundle.task, device, amp, info)
                tr = evaluate(model, trainset_loader, bundle.task, device, amp, info)
            sched.step()
            if quantized:
                opt.end_epoch()
            rec = {"test_loss": te["loss"], "test_acc": te.get("acc"), "train_loss": tr["loss"],
                   "train_acc": tr.get("acc"), "train_loss_batch": batch_loss.item(), "lr": lr}
            logger.log("eval", step, epoch, rec)
            history.append({"epoch": epoch, "step": step, **rec})
            wall += time.perf_counter() - t0
            if bar is not None:
                bar.set_postfix(epoch=epoch, test_acc=rec["test_acc"], loss=rec["train_loss"])
            if info.is_main:
                save_checkpoint(run_dir, {
                    "model": model.state_dict(), "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(), "rng": rng_state(), "epoch": epoch + 1,
                    "step": step, "history": history, "metrics_offset": logger.offset(),
                    "wall_s": wall})
            barrier(info)
            if stop_after is not None and epoch + 1 - start_epoch >= stop_after \
                    and epoch + 1 < cfg.epochs:
                return None
    finally:
        logger.close()
        if bar is not None:
            bar.close()
    return _finish(cfg, run_dir, model, opt, history, step, wall, info, device)


#: Calibration batches of UniQ's ``simple_initialization`` (released code default, papers.md §D).
UNIQ_CALIBRATION_BATCHES = 100


def _calibrate_uniq(model: torch.nn.Module, bundle: Any, batch_size: int,
                    device: torch.device) -> None:
    """UniQ's data-driven step initialisation (Gaussian-optimal constants × data statistics).

    Runs before DDP wrapping on the same unshuffled training batches on every rank, so every
    rank computes identical steps without communication; a resumed run skips it (the steps come
    from the checkpoint).
    """
    from qopt.nn import calibrate_uniq

    calib = TensorLoader(bundle.x_train, bundle.y_train, batch_size, shuffle=False, device=device,
                         transform=bundle.test_transform)
    model.train()
    calibrate_uniq(model, calib, num_batches=UNIQ_CALIBRATION_BATCHES)


def _finish(cfg: TrainConfig, run_dir: Path, model: torch.nn.Module, opt: Any,
            history: list[dict], step: int, wall: float, info: DistInfo,
            device: torch.device) -> dict:
    """finalize(), write model.pt / quantized.pt, then result.json (last)."""
    import qopt

    same = ranks_identical([model.state_dict(), opt.state_dict()], info, device)
    if not same:
        raise RuntimeError("data-parallel ranks diverged: model/optimizer states differ")
    if is_quant_optimizer(opt):
        opt.finalize()
    result = {
        "run_dir": str(run_dir), "config": cfg.to_dict(), "final": history[-1],
        "best_test_acc": max((h["test_acc"] for h in history if h["test_acc"] is not None),
                             default=None),
        "epochs": len(history), "steps": step, "wall_s": wall, "device": str(device),
        "world_size": info.world, "ranks_identical": same,
        "n_params": sum(p.numel() for p in model.parameters()), "history": history,
    }
    if info.is_main:
        atomic_torch_save(run_dir / "model.pt", model.state_dict())
        if cfg.method != "float" and hasattr(qopt, "export_quantized"):
            exported = qopt.export_quantized(model, opt if is_quant_optimizer(opt) else None)
            atomic_torch_save(run_dir / "quantized.pt", exported)
        atomic_write_json(run_dir / "result.json", result)
    barrier(info)
    return result
