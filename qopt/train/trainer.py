r"""The training driver: one function, :func:`train`, for a single process and for ``torchrun``.

Per epoch :math:`e`: one pass over the (seeded, epoch-determined) shuffled training set with the
optimizer (quantized methods update latent weights and keep the network's weights at the
quantized / relaxed point), a divergence check (non-finite loss, gradient or weight: the run
stops and the previous checkpoint stays), evaluation ON THE EXACTLY QUANTIZED WEIGHTS
(``QuantOptimizer.eval_quantized()``: every quantized tensor holds :math:`P_Q(w)` during the
pass), the learning-rate schedule step, ``QuantOptimizer.end_epoch()``, an ``eval`` record in
``metrics.jsonl`` and an atomic checkpoint. At the end (:mod:`qopt.train.finish`):
``finalize()`` writes :math:`P_Q(w)` into the model for good, BatchNorm statistics are
re-estimated at those weights (``bn_recalib_batches``), the final evaluation is written as
``final`` (``final_raw``: with the running statistics), then ``model.pt``, ``quantized.pt``
(integer codes), ``latent.pt`` (final latent weights, for ``qopt verify run``) and last
``result.json`` (its presence marks the run finished).

Identity (:mod:`qopt.train.identity`): a finished run of the same identity is returned as is,
after its files are checked against ``manifest.json`` (:mod:`qopt.train.manifest`); a run
directory holding another identity is refused (:class:`~qopt.train.identity.RunConflict`).
Every checkpoint records the run's identity (``identity``: its ``config_hash`` and record); a
resume refuses a checkpoint (current or previous) of another identity and one whose optimizer
or scheduler hyperparameters differ from ``config.json``'s
(:func:`~qopt.train.checkpoint.check_hyperparameters`).

The structure — :class:`_Run` with named phases ``build``, ``start``, ``run_epochs``,
``epoch``, ``finish`` — follows the released codes' epoch structure (continuation once per
epoch, evaluation of the quantized net; penhunt/binaryrelax ``util/train_net.py``).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch

from qopt.data import TensorLoader
from qopt.optim._nonfinite import finite_flags
from qopt.train.checkpoint import (
    check_hyperparameters,
    check_metrics_log,
    load_checkpoint,
    remove_checkpoints,
    restore_checkpoint,
    save_checkpoint,
)
from qopt.train.config import TrainConfig
from qopt.train.distributed import DistInfo, barrier, cleanup, init_distributed, sync_buffers
from qopt.train.divergence import (
    LossWatch,
    TrainingDiverged,
    check_skip_share,
    from_engine_error,
    nonfinite_error_types,
)
from qopt.train.io import atomic_write_json
from qopt.train.lock import LOCK_FILE, RunLock
from qopt.train.loop import EpochHooks, evaluate, train_epoch
from qopt.train.metrics import MetricsLogger, truncate_metrics
from qopt.train.record import (
    check_data_location,
    check_resume_facts,
    check_run_dir,
    run_record,
)
from qopt.train.seeding import rng_state, seed_everything, set_rng_state
from qopt.train.setup import (
    build_model_for,
    build_optimizer,
    calibrate_uniq_steps,
    is_quant_optimizer,
)

EVAL_BATCH = 1000


def resolve_device(spec: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> ``cuda:<local_rank>`` when CUDA is available, else ``cpu``.

    Raises:
        ValueError: a CUDA device without CUDA or beyond ``torch.cuda.device_count()``, or
            ``mps`` where this torch has no usable MPS backend.
    """
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if spec == "cuda":
        spec = f"cuda:{local_rank}"
    dev = torch.device(spec)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {spec!r} requested but CUDA is not available")
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise ValueError(f"device {spec!r} requested but this machine has {count} CUDA "
                             f"device(s): cuda:0..cuda:{count - 1}")
        torch.cuda.set_device(dev)
    elif dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(f"device {spec!r} requested but MPS is not available "
                             "(torch built without it, or not a Mac with Metal)")
    return dev


def train(cfg: TrainConfig, run_dir: str | os.PathLike, *, resume: bool = True,
          stop_after_epochs: int | None = None, progress: bool | None = None) -> dict | None:
    """Train ``cfg`` into ``run_dir``; returns the result dict (``None`` if stopped early).

    Args:
        cfg: the run configuration (validated here before anything else happens).
        run_dir: the run directory (created).
        resume: continue from ``checkpoint.pt`` if present; a finished run of the same identity
            (``result.json`` present) is returned as is without training; a directory holding
            another identity raises :class:`RunConflict`. ``False`` starts afresh (replacing
            whatever the directory holds).
        stop_after_epochs: stop (after checkpointing) once this many epochs ran in this call:
            an orderly interruption, used by tests and by time-sliced runners.
        progress: tqdm bar; default: only when stderr is a terminal (and on rank 0).

    Raises:
        ValueError / TypeError: a bad config (naming the field).
        RunConflict: ``run_dir`` holds a run of a different identity (a ``ValueError``).
        TrainingDiverged: a non-finite loss / gradient / weight (a ``FloatingPointError``);
            the last good checkpoint is kept.
    """
    cfg = cfg.validate()
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise ValueError(f"run directory {str(run_dir)!r} exists and is not a directory; give "
                         "--out a directory (new or a run's)")
    record = run_record(cfg)
    finished = check_run_dir(run_dir, record, resume)
    if finished is not None:
        check_data_location(cfg, run_dir)
        return finished
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        with RunLock(run_dir, enabled=int(os.environ.get("RANK", "0")) == 0):
            if cfg.num_threads:
                torch.set_num_threads(cfg.num_threads)
            info = init_distributed("cuda" if cfg.device.startswith("cuda") or (
                cfg.device == "auto" and torch.cuda.is_available()) else "cpu")
            try:
                run = _Run(cfg, run_dir, info, record, progress)
                run.start(resume)
                if not run.run_epochs(stop_after_epochs):
                    return None
                return run.finish()
            finally:
                cleanup(info)
    except BaseException:
        if created:  # failed before writing anything (a bad --axis, a missing package)
            remove_if_only_lock(run_dir)
        raise


def remove_if_only_lock(run_dir: Path) -> bool:
    """Remove ``run_dir`` when it holds nothing but its lock file (a run that failed before
    writing anything leaves no empty directory behind); True if removed."""
    try:
        names = {p.name for p in run_dir.iterdir()}
    except OSError:
        return False
    if not names <= {LOCK_FILE}:
        return False
    with contextlib.suppress(OSError):
        (run_dir / LOCK_FILE).unlink(missing_ok=True)
        run_dir.rmdir()
        return True
    return False


def resume_line(run_dir: Path, ckpt: dict[str, Any], epochs: int) -> str:
    """What a resumed run says first: ``resuming RUN from epoch 7/30 (7 done, next: epoch 8;
    step 2100), checkpoint RUN/checkpoint.pt`` (the epoch lines that follow count from 8)."""
    path = run_dir / ckpt.get("_file", "checkpoint.pt")
    done = int(ckpt["epoch"])
    return (f"resuming {str(run_dir)!r} from epoch {done}/{epochs} ({done} done, next: epoch "
            f"{done + 1}; step {ckpt['step']}), checkpoint {str(path)}")


def _eval_ctx(opt: Any) -> contextlib.AbstractContextManager:
    return opt.eval_quantized() if is_quant_optimizer(opt) else contextlib.nullcontext()


class _Run:
    """One training run's state, advanced by named phases (module docstring)."""

    def __init__(self, cfg: TrainConfig, run_dir: Path, info: DistInfo, record: dict,
                 progress: bool | None) -> None:
        self.cfg, self.run_dir, self.info, self.record = cfg, run_dir, info, record
        self.progress = progress
        self.build()

    # -- phase: build ------------------------------------------------------------------------
    def build(self) -> None:
        """Device, seeds, data, loaders, model, optimizer and schedule."""
        cfg, info = self.cfg, self.info
        self.device = resolve_device(cfg.device, info.local_rank)
        self.amp = cfg.amp == "bf16" or (cfg.amp == "auto" and self.device.type == "cuda")
        seed_everything(cfg.seed, cfg.deterministic)
        from qopt.train.data import load_run_data

        self.bundle = b = load_run_data(cfg)
        self.model = build_model_for(cfg, b).to(self.device)
        n_train, eval_bs = b.x_train.shape[0], EVAL_BATCH * info.world
        self.train_loader = TensorLoader(
            b.x_train, b.y_train, cfg.batch_size, shuffle=True, seed=cfg.seed,
            device=self.device, rank=info.rank, world=info.world, transform=b.train_transform,
            drop_last=info.active and n_train % cfg.batch_size != 0)
        self.test_loader = TensorLoader(b.x_test, b.y_test, eval_bs, shuffle=False,
                                        device=self.device, rank=info.rank, world=info.world,
                                        transform=b.test_transform)
        self.val_loader = TensorLoader(b.x_val, b.y_val, eval_bs, shuffle=False,
                                       device=self.device, rank=info.rank, world=info.world,
                                       transform=b.test_transform)
        self.trainset_loader = TensorLoader(b.x_train, b.y_train, eval_bs, shuffle=False,
                                            device=self.device, rank=info.rank,
                                            world=info.world, transform=b.test_transform)
        self.steps_per_epoch = len(self.train_loader)
        self.opt, self.sched = build_optimizer(cfg, self.model, self.steps_per_epoch)
        self.quantized = is_quant_optimizer(self.opt)
        if self.quantized and cfg.diag_every:
            self.opt.record_every = cfg.diag_every
        self.cost_note = None
        if self.quantized and info.is_main:  # the projection's share, measured once (steps 3-7)
            self.opt.cost.start(device=self.device)
            self.cost_note = CostNote()
        self.start_epoch, self.step, self.history, self.wall = 0, 0, [], 0.0
        self.execution: list[dict] = []
        self.saved_epoch: int | None = None

    # -- phase: start (fresh or resumed) -----------------------------------------------------
    def start(self, resume: bool) -> None:
        """Resume from the checkpoint (checking data and arithmetic), or start afresh and write
        ``config.json``; then UniQ's calibration of a fresh run."""
        from qopt.train.finish import data_sha256, start_record

        cfg, run_dir, info = self.cfg, self.run_dir, self.info
        ckpt = load_checkpoint(run_dir, self.device, self.record) if resume else None
        facts = start_record(self)
        if ckpt is not None:
            from qopt.train.io import read_json

            cfg_file = run_dir / "config.json"
            check_resume_facts(run_dir, read_json(cfg_file) if cfg_file.exists() else {},
                               facts, data_sha256(self.bundle))
            check_hyperparameters(ckpt, self.opt, self.sched, run_dir)
            restore_checkpoint(ckpt, self.model, self.opt, self.sched, run_dir)
            set_rng_state(ckpt["rng"])
            if not cfg_file.exists() and info.is_main:  # lost: the state fitted, record again
                atomic_write_json(cfg_file, {**self.record, **facts})
            self.start_epoch, self.step = ckpt["epoch"], ckpt["step"]
            self.history, self.wall = ckpt["history"], ckpt.get("wall_s", 0.0)
            self.execution = list(ckpt.get("execution", []))
            self.saved_epoch = self.start_epoch
            if info.is_main:
                print(resume_line(run_dir, ckpt, cfg.epochs), file=sys.stderr, flush=True)
                gap = check_metrics_log(run_dir, ckpt)
                if gap:
                    print(f"warning: resuming {str(run_dir)!r}: {gap}", file=sys.stderr)
                truncate_metrics(run_dir, ckpt["metrics_offset"])
        elif info.is_main:
            remove_checkpoints(run_dir)
            for name in ("metrics.jsonl", "model.pt", "quantized.pt", "latent.pt",
                         "manifest.json", "result.json"):
                (run_dir / name).unlink(missing_ok=True)
            atomic_write_json(run_dir / "config.json", {**self.record, **facts})
        barrier(info)
        self.execution.append(self._execution_segment())
        if ckpt is None and cfg.method == "uniq":
            calibrate_uniq_steps(self.model, self.bundle, cfg.batch_size, self.device)

    def _execution_segment(self) -> dict[str, Any]:
        return {"from_epoch": self.start_epoch, "device": str(self.device),
                "threads": torch.get_num_threads(), "compile": self.cfg.compile,
                "deterministic": self.cfg.deterministic, "amp": self.amp,
                "world_size": self.info.world, "torch": str(torch.__version__)}

    # -- phase: epochs -----------------------------------------------------------------------
    def run_epochs(self, stop_after: int | None) -> bool:
        """Train the remaining epochs; False when stopped early by ``stop_after``."""
        cfg, info = self.cfg, self.info
        self.net: torch.nn.Module = self.model
        if info.active:
            self.net = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda"
                else None)
        if cfg.compile:
            self.net = torch.compile(self.net)  # type: ignore[assignment]
        self.logger = MetricsLogger(self.run_dir, enabled=info.is_main)
        show = info.is_main and (sys.stderr.isatty() if self.progress is None else self.progress)
        self.bar = None
        # not on a terminal (a log file, nohup, a batch scheduler) and not switched off: one
        # line per epoch on stderr instead of the bar, flushed so that `tail -f` shows it live
        self.lines = info.is_main and not show and self.progress is None
        if show:
            from tqdm import tqdm

            n = len(self.train_loader)
            self.bar = tqdm(total=cfg.epochs * n, initial=self.start_epoch * n,
                            desc=self.run_dir.name, leave=False, dynamic_ncols=True)
        try:
            for epoch in range(self.start_epoch, cfg.epochs):
                self.epoch(epoch)
                if stop_after is not None and epoch + 1 - self.start_epoch >= stop_after \
                        and epoch + 1 < cfg.epochs:
                    self.logger.close()
                    return False
        except BaseException:
            self.logger.close()
            raise
        finally:
            if self.bar is not None:
                self.bar.close()
        return True

    def epoch(self, epoch: int) -> None:
        """One epoch: train, divergence check, evaluation, schedules, record, checkpoint."""
        cfg, opt, info = self.cfg, self.opt, self.info
        t0 = time.perf_counter()
        self.train_loader.set_epoch(epoch)
        lr = opt.param_groups[0]["lr"]
        hooks = EpochHooks(self.logger.log, cfg.log_every, cfg.diag_every, self.quantized,
                           _probe if self.quantized and info.is_main else None,
                           LossWatch(self.device, cfg.nonfinite), self.bar,
                           self.cost_note if self.cost_note and not self.cost_note.done
                           else None)
        ckpt = self.checkpoint_text()
        before = self.skipped_steps()
        try:
            self.step, batch_loss = train_epoch(self.net, opt, self.train_loader,
                                                self.bundle.task, self.device, self.amp,
                                                self.step, epoch, hooks)
            if hasattr(opt, "check_nonfinite"):
                opt.check_nonfinite()
            lost = hooks.watch.check(epoch, ckpt)  # non-finite losses (left out of the mean)
        except nonfinite_error_types() as exc:
            raise from_engine_error(exc, epoch, ckpt) from None
        except ValueError as exc:  # an engine before contract C2 raised ValueError
            if "non-finite" not in str(exc):
                raise
            raise TrainingDiverged(None, str(exc).split(";")[0].replace(
                "non-finite values (NaN/Inf) in ", ""), epoch, ckpt) from None
        skip = cfg.nonfinite == "skip"
        counts = (self.skipped_steps(), self.step) if skip else None
        sync_buffers(self.model, info)
        bad = nonfinite_state(self.model)
        if bad is not None:  # e.g. BatchNorm statistics of a skipped step's forward pass
            raise TrainingDiverged(self.step, bad, epoch, ckpt, skipped=counts)
        if skip:
            check_skip_share(self.skipped_steps(), cfg.epochs * self.steps_per_epoch,
                             cfg.max_skip_frac, self.step, epoch, ckpt)
        with _eval_ctx(opt):
            te = evaluate(self.model, self.test_loader, self.bundle.task, self.device, self.amp,
                          info)
            va = evaluate(self.model, self.val_loader, self.bundle.task, self.device, self.amp,
                          info)
            tr = evaluate(self.model, self.trainset_loader, self.bundle.task, self.device,
                          self.amp, info)
        self.sched.step()
        if self.quantized:
            opt.end_epoch()
        mean_loss = batch_loss.item()
        if lost:  # the mean over the steps with a finite loss
            n = self.steps_per_epoch
            mean_loss = mean_loss * n / (n - lost) if lost < n else float("nan")
        rec = {"val_loss": va["loss"], "val_acc": va.get("acc"),
               "test_loss": te["loss"], "test_acc": te.get("acc"), "train_loss": tr["loss"],
               "train_acc": tr.get("acc"), "train_loss_batch": mean_loss, "lr": lr}
        if skip:  # steps of this epoch the optimizer skipped (non-finite loss/gradient/weight)
            rec["nonfinite_steps"] = self.skipped_steps() - before
        self.logger.log("eval", self.step, epoch, rec)
        self.history.append({"epoch": epoch, "step": self.step, **rec})
        self.wall += time.perf_counter() - t0
        if self.bar is not None:
            self.bar.set_postfix(epoch=epoch, val_acc=rec["val_acc"], loss=rec["train_loss"])
        elif self.lines:
            print(epoch_line(self.run_dir.name, epoch, cfg.epochs, rec,
                             time.perf_counter() - t0), file=sys.stderr, flush=True)
        if info.is_main:
            save_checkpoint(self.run_dir, {
                "model": self.model.state_dict(), "optimizer": opt.state_dict(),
                "scheduler": self.sched.state_dict(), "rng": rng_state(), "epoch": epoch + 1,
                "step": self.step, "history": self.history,
                "metrics_offset": self.logger.offset(), "wall_s": self.wall,
                "execution": self.execution,
                "identity": {"config_hash": self.record["config_hash"], "record": self.record}})
        self.saved_epoch = epoch + 1
        barrier(info)

    def skipped_steps(self) -> int:
        """Optimizer steps skipped for non-finite values so far in the run (resumes included;
        0 without a QuantOptimizer)."""
        guard = getattr(self.opt, "guard", None)
        return int(getattr(guard, "skipped", 0))

    def checkpoint_text(self) -> str | None:
        """The last good checkpoint, as :class:`TrainingDiverged` names it."""
        return (f"{self.run_dir / 'checkpoint.pt'} (after epoch {self.saved_epoch - 1})"
                if self.saved_epoch else None)

    # -- phase: finish -----------------------------------------------------------------------
    def finish(self) -> dict:
        """Final weights, BN re-estimation, final evaluation, files (see :mod:`finish`)."""
        from qopt.train.finish import finish_run

        try:
            return finish_run(self)
        finally:
            self.logger.close()


#: the projection "dominates" the training step above this share
DOMINANT_SHARE = 0.5


class CostNote:
    """Says once, on stderr, when the projection takes more than :data:`DOMINANT_SHARE` of the
    training step, with the share measured by the optimizer's :class:`qopt.optim.cost.CostMeter`
    over a few early steps (issue 22 item 6)."""

    def __init__(self) -> None:
        self.done = False
        self.result: dict | None = None

    def __call__(self, opt: Any) -> None:
        if self.done:
            return
        res = opt.cost.result()
        if res is None:
            return
        self.done, self.result = True, res
        if res["share"] > DOMINANT_SHARE:
            last = res["first"] + res["steps"] - 1
            print(f"note: the exact projection takes {100 * res['share']:.0f}% of the training "
                  f"step ({res['proj_ms']:.1f} of {res['step_ms']:.1f} ms per step, measured "
                  f"over steps {res['first']}-{last}); per-channel projections of large tensors "
                  "and many-level sets cost most", file=sys.stderr, flush=True)


def _probe(opt: Any) -> dict:
    from qopt.train.probe import probe_record

    return probe_record(opt)


def epoch_line(name: str, epoch: int, epochs: int, rec: dict, seconds: float) -> str:
    """``[run] epoch 3/20: val_acc 71.20% train_loss 0.8123 lr 0.1 (4.1 s)`` (the line written
    per epoch when stderr is not a terminal; the validation number, what a user watching a
    run may act on)."""
    acc = rec.get("val_acc")
    parts = [f"val_acc {100 * acc:.2f}%" if isinstance(acc, float) else
             f"val_loss {rec['val_loss']:.4g}", f"train_loss {rec['train_loss']:.4g}",
             f"lr {rec['lr']:.3g}"]
    return f"[{name}] epoch {epoch + 1}/{epochs}: {' '.join(parts)} ({seconds:.1f} s)"


def nonfinite_state(model: torch.nn.Module) -> str | None:
    """``"model state NAME"`` for the first floating entry of ``model.state_dict()`` (weights
    and buffers, e.g. a BatchNorm ``running_var``) holding NaN/Inf, else None. Checked once per
    epoch (one host sync): ``nonfinite="skip"`` skips the optimizer step of a bad gradient, but
    that step's forward pass has already updated the BatchNorm statistics."""
    items = [(k, v) for k, v in model.state_dict().items() if v.is_floating_point()]
    if not items:
        return None
    ok = finite_flags([v for _, v in items])
    if bool(ok.all()):
        return None
    return f"model state {items[int((~ok).nonzero()[0])][0]}"
