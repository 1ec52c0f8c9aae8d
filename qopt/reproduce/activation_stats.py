r"""Where a trained network's quantized ReLUs operate: the STE diagnostic of ``ste-table1``.

For a b-bit quantized ReLU with step α (levels {0, α, …, Mα}, M = 2^b − 1) the ReLU STE passes
the gradient 1 for every x > 0, the clipped-ReLU STE only for 0 < x ≤ Mα. Above Mα the
quantized output is flat, so there the ReLU STE's gradient is wrong in a systematic way: it
reports that increasing x (e.g. through a BN scale γ) increases the output. This module measures, on
a finished run, per quantized ReLU (in forward order) and over ``n`` training samples in eval
mode:

* ``std``: standard deviation of the quantizer's input x (1 after a BN without scale/shift);
* ``above``: fraction of entries with x > Mα (where only the ReLU STE passes a gradient);
* ``active``: fraction with x > 0.

SOURCE: derived here (a measurement, no formula from the papers).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

__all__ = ["quant_relu_stats"]


def quant_relu_stats(run_dir: str | Path, n: int = 1000) -> list[dict[str, float]]:
    """Per quantized ReLU of the finished run in ``run_dir``: ``{"std", "above", "active",
    "alpha"}`` (see the module docstring). Loads ``model.pt`` with the project's safe loader
    (:func:`qopt.io.load_state_file`, ``weights_only=True``).

    Raises:
        ValueError: ``run_dir`` is not a finished run (no config.json / model.pt).
        RunDamaged: its files are not those the run wrote (:mod:`qopt.train.manifest`).
    """
    import torch

    from qopt.io import load_state_file
    from qopt.nn import QuantReLU
    from qopt.train.config import TrainConfig
    from qopt.train.io import read_json
    from qopt.train.setup import build_model_for

    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file() or not (run_dir / "model.pt").is_file():
        raise ValueError(f"{str(run_dir)!r} is not a finished run (config.json, model.pt)")
    from qopt.train.manifest import read_finished_run

    read_finished_run(run_dir)  # model.pt is the one the run wrote (RunDamaged otherwise)
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    cfg = TrainConfig.from_dict({k: v for k, v in read_json(run_dir / "config.json").items()
                                 if k in names})
    from qopt.train.data import load_run_data

    bundle = load_run_data(cfg)
    model = build_model_for(cfg, bundle)
    model.load_state_dict(load_state_file(run_dir / "model.pt"))
    model.eval()
    out: list[dict[str, float]] = []

    def hook(mod: QuantReLU, inp: tuple, _out: object) -> None:
        x = inp[0].detach().double()
        top = mod.levels * float(mod.alpha)
        out.append({"std": float(x.std()), "above": float((x > top).double().mean()),
                    "active": float((x > 0).double().mean()), "alpha": float(mod.alpha)})

    hooks = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, QuantReLU)]
    try:
        with torch.no_grad():
            x = bundle.x_train[:n]
            if bundle.test_transform is not None:
                x = bundle.test_transform(x, torch.Generator())
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return out
