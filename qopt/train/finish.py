r"""Start and end of a run: the facts recorded in ``config.json`` when training starts, and the
final phase (exact weights, BatchNorm re-estimation, final evaluation, files).

Final phase, in order: the data-parallel ranks are checked bitwise identical; a QuantOptimizer
writes :math:`P_Q(w)` into the model (``finalize()``); ``final_raw`` is the last epoch's
evaluation (the same weights, running BatchNorm statistics); for a run that quantizes weights
and has BatchNorm layers, the statistics are re-estimated on ``bn_recalib_batches`` training
batches at these weights (:mod:`qopt.train.bn`; under DDP each rank uses its shard of every
global batch and the estimates are averaged over ranks) and the test and training sets are
evaluated again: that is ``final``. Without re-estimation ``final`` equals ``final_raw``.
``model.pt`` holds the evaluated network (re-estimated statistics included); ``quantized.pt``
the integer codes and scales; ``latent.pt`` the final latent weights; then ``manifest.json``
(the SHA-256 of each of these files and of ``result.json``, :mod:`qopt.train.manifest`);
``result.json`` is written last.
"""

from __future__ import annotations

import hashlib
import math
import platform
from typing import Any

import torch

from qopt.train.bn import batchnorm_layers, recalibrate_bn
from qopt.train.distributed import all_reduce_sum, barrier, ranks_identical
from qopt.train.loop import autocast_ctx, evaluate


def data_sha256(bundle: Any) -> str:
    """SHA-256 over the tensors of a data bundle (names, dtypes, shapes and bytes; the
    validation split's when it has one); cached on the bundle."""
    cached = getattr(bundle, "_qopt_sha256", None)
    if cached:
        return cached
    h = hashlib.sha256()
    for name in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        t = getattr(bundle, name, None)
        if t is None:
            continue
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    bundle._qopt_sha256 = h.hexdigest()
    return bundle._qopt_sha256


def _plain_meta(meta: dict) -> dict:
    """A bundle's ``meta`` with what JSON cannot hold written as its text (a user's bundle
    may carry anything there)."""
    import json

    out = {}
    for k, v in meta.items():
        try:
            json.dumps(v)
            out[str(k)] = v
        except (TypeError, ValueError):
            out[str(k)] = repr(v)
    return out


def start_record(run: Any) -> dict[str, Any]:
    """Facts recorded in ``config.json`` beside the identity (:mod:`qopt.train.record`)."""
    import qopt

    b = run.bundle
    tensors = {}
    if run.quantized:
        from qopt.train.probe import tensor_specs

        tensors = tensor_specs(run.opt)
    import inspect

    clock = "step" if "steps_per_epoch" in inspect.signature(qopt.QuantOptimizer).parameters \
        else "end_epoch"
    return {
        "data": {"name": b.name, "task": b.task, "input_shape": list(b.input_shape),
                 "num_classes": b.num_classes, "n_train": int(b.x_train.shape[0]),
                 "n_val": int(b.x_val.shape[0]) if b.x_val is not None else 0,
                 "n_test": int(b.x_test.shape[0]), **_plain_meta(b.meta),
                 "sha256": data_sha256(b)},
        "world_size": run.info.world, "device_resolved": str(run.device),
        "amp_resolved": "bf16" if run.amp else "off", "steps_per_epoch": run.steps_per_epoch,
        "tensors": tensors, "schedule_clock": clock,
        "versions": {"qopt": qopt.__version__, "torch": str(torch.__version__),
                     "python": platform.python_version()},
    }


def _bn_batches(run: Any):  # noqa: ANN202 - generator of input batches
    """Training batches for the re-estimation: permutations of epochs E, E+1, ... (E =
    ``epochs``), training transform; only the inputs."""
    e = run.cfg.epochs
    while True:
        run.train_loader.set_epoch(e)
        for x, _ in run.train_loader:
            yield x
        e += 1


def recalibrated_eval(run: Any) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """(test/train evaluation after BN re-estimation or None, what was done and why)."""
    cfg = run.cfg
    if not cfg.quantizes_weights:
        return None, {"applied": False, "reason": "float weights"}
    if cfg.bn_recalib_batches == 0:
        return None, {"applied": False, "reason": "bn_recalib_batches = 0"}
    if not batchnorm_layers(run.model):
        return None, {"applied": False, "reason": "no BatchNorm layer"}
    n = recalibrate_bn(run.model, _bn_batches(run), cfg.bn_recalib_batches,
                       lambda: autocast_ctx(run.device, run.amp))
    if run.info.active:  # average the per-rank estimates
        for m in batchnorm_layers(run.model):
            for buf in (m.running_mean, m.running_var):
                all_reduce_sum(buf, run.info)
                buf.div_(run.info.world)
    te = evaluate(run.model, run.test_loader, run.bundle.task, run.device, run.amp, run.info)
    va = evaluate(run.model, run.val_loader, run.bundle.task, run.device, run.amp, run.info)
    tr = evaluate(run.model, run.trainset_loader, run.bundle.task, run.device, run.amp,
                  run.info)
    return ({"val_loss": va["loss"], "val_acc": va.get("acc"),
             "test_loss": te["loss"], "test_acc": te.get("acc"), "train_loss": tr["loss"],
             "train_acc": tr.get("acc")},
            {"applied": True, "batches": n, "batch_size": cfg.batch_size,
             "layers": len(batchnorm_layers(run.model))})


def check_final_losses(run: Any, final: dict[str, Any]) -> None:
    """A non-finite final test or training loss is a diverged run (exit 1), never a result:
    e.g. ``nonfinite = "skip"`` kept the weights finite but so large that the logits overflow.
    Raised before any final file is written; the checkpoint after the last epoch stays."""
    from qopt.train.divergence import TrainingDiverged

    bad = [f"{k} {final[k]}" for k in ("test_loss", "train_loss")
           if isinstance(final.get(k), float) and not math.isfinite(final[k])]
    if bad:
        skipped = (run.skipped_steps(), run.step) if run.cfg.nonfinite == "skip" else None
        raise TrainingDiverged(run.step, "final loss", len(run.history) - 1,
                               run.checkpoint_text(), skipped=skipped,
                               reason=f"non-finite final loss ({', '.join(bad)})")


def best_epoch(history: list[dict]) -> dict[str, Any]:
    """The validation-best epoch of a run, chosen on VALIDATION only: the highest ``val_acc``
    (classification) or the lowest ``val_loss`` (regression); ties go to the earliest epoch.
    Returns ``best_epoch``, ``best_val_acc``, ``best_val_loss`` and the test numbers of that
    epoch, ``test_acc_at_best_val`` / ``test_loss_at_best_val`` ("test accuracy at the
    validation-best epoch"; reported, never used to choose)."""
    hist = [h for h in history if h.get("val_loss") is not None]
    if not hist:
        return {"best_epoch": None, "best_val_acc": None, "best_val_loss": None,
                "test_acc_at_best_val": None, "test_loss_at_best_val": None}
    if all(h.get("val_acc") is not None for h in hist):
        key = [(-h["val_acc"], h["epoch"]) for h in hist]
    else:
        key = [(h["val_loss"], h["epoch"]) for h in hist]
    h = hist[min(range(len(hist)), key=lambda i: key[i])]
    return {"best_epoch": h["epoch"], "best_val_acc": h.get("val_acc"),
            "best_val_loss": h["val_loss"], "test_acc_at_best_val": h.get("test_acc"),
            "test_loss_at_best_val": h.get("test_loss")}


def finish_run(run: Any) -> dict[str, Any]:
    """The final phase (module docstring); returns the result dict."""
    import qopt

    cfg, info, model, opt = run.cfg, run.info, run.model, run.opt
    same = ranks_identical([model.state_dict(), opt.state_dict()], info, run.device)
    if not same:
        raise RuntimeError("data-parallel ranks diverged: model/optimizer states differ")
    if run.quantized:
        opt.finalize()
    final_raw = dict(run.history[-1])
    recal, bn_info = recalibrated_eval(run)
    final = {**final_raw, **recal, "bn_recalibrated": True} if recal is not None else \
        {**final_raw, "bn_recalibrated": False}
    check_final_losses(run, final)
    best = best_epoch(run.history)
    result = {
        "run_dir": str(run.run_dir), "config": cfg.to_dict(),
        "config_hash": run.record["config_hash"], "final": final, "final_raw": final_raw,
        "bn_recalibration": bn_info, **best,
        "epochs": len(run.history), "steps": run.step, "wall_s": run.wall,
        "device": str(run.device), "world_size": info.world, "ranks_identical": same,
        "n_params": sum(p.numel() for p in model.parameters()), "execution": run.execution,
        "history": run.history,
    }
    if cfg.nonfinite == "skip":
        result["skipped_steps"] = run.skipped_steps()
    if info.is_main:
        run.logger.log("final", run.step, len(run.history) - 1,
                       {**final, "raw_test_acc": final_raw.get("test_acc"),
                        "raw_test_loss": final_raw.get("test_loss")})
        from qopt.train.manifest import write_finished

        files: dict[str, Any] = {"model.pt": model.state_dict()}
        if cfg.method != "float" and hasattr(qopt, "export_quantized"):
            files["quantized.pt"] = qopt.export_quantized(model, opt if run.quantized else None)
        if run.quantized:
            from qopt.train.probe import final_latents

            files["latent.pt"] = final_latents(opt)
        write_finished(run.run_dir, run.record["config_hash"], files, result)
    barrier(info)
    return result
