r"""Claim ``cifar``: the papers' CIFAR-10 headline setups (the built-in CIFAR study presets).

Needs the CIFAR-10 pickles (``--data-dir``) and, for the 200-epoch schedules, a GPU. Without a
data directory the claim is listed as *not run here* with the exact command. With one, each
preset runs staged through :mod:`qopt.reproduce.staged` — a float model per seed with the
preset's schedule, then every quantized arm of the preset from the float model of the same seed
(the papers' protocol; the presets alone start from scratch) — and the final accuracies are set
beside the headline numbers that were seen:

* ``cifar10-vgg11`` — BinaryRelax released notebook, VGG-11, binary weights: BR 89.21%, float
  92.13%. Judged: |BR − 89.21| < 1 point (one-sample interval over seeds inside ±1), and BR > BC
  paired by seed.
* ``cifar10-resnet20-bcgd`` and ``cifar10-resnet20-uniq`` — the BCGD and UniQ papers' CIFAR
  tables were not seen: numbers reported, no verdict.

``--quick`` with a data directory runs 1 epoch per stage (a smoke run of the pipeline).
"""

from __future__ import annotations

from qopt.reproduce.claim import ClaimResult, ClaimSpec, Context, Part, Table
from qopt.reproduce.comparison import Comparison
from qopt.reproduce.run_metrics import final_acc
from qopt.reproduce.staged import Arm, StagedExperiment, run_experiment
from qopt.reproduce.stats import ACCURACY, t_interval
from qopt.reproduce.verdict import NOT_RUN, Verdict, combine, equivalent, smoke

PRESETS = ("cifar10-vgg11", "cifar10-resnet20-bcgd", "cifar10-resnet20-uniq")
HEADLINE = {("cifar10-vgg11", "binaryrelax"): 0.8921, ("cifar10-vgg11", "float"): 0.9213}
#: TrainConfig fields that describe quantization: dropped for the float stage
QUANT_FIELDS = ("method", "weights", "method_args", "act_bits", "act_forward", "ste",
                "alpha_grad", "learn_alpha", "keep_float", "axis")


def experiment(ctx: Context, preset: str) -> StagedExperiment:
    """The preset as a staged experiment (float stage = the preset's base without
    quantization; arms = the preset's quantized grid cells with their [methods] tables)."""
    from qopt.study import PRESETS as STUDIES
    from qopt.study import parse_toml

    d = parse_toml(STUDIES[preset], preset)
    base = {**d["base"], "data_dir": ctx.data_dir}
    if ctx.quick:
        base.update(epochs=1, schedule="constant", milestones=[])
    grid = d["grid"]
    methods = grid.get("method", [base.get("method", "float")])
    arms = []
    for m in methods:
        if m == "float":
            continue
        for w in grid.get("weights", [base.get("weights")]):
            arms.append(Arm({"method": m, "weights": w}, dict(d.get("methods", {}).get(m, {}))))
    float_cfg = {k: v for k, v in base.items() if k not in QUANT_FIELDS}
    return StagedExperiment(preset, f"qopt study preset {preset}, staged from float",
                            float_cfg, base, tuple(arms), tuple(range(ctx.n_seeds(1, 1))))


def protocol(ctx: Context) -> dict:
    if ctx.data_dir is None:
        return {"mode": ctx.mode, "data_dir": None}
    return {"mode": ctx.mode, "data_dir": ctx.data_dir,
            "experiments": [experiment(ctx, p).to_dict() for p in PRESETS]}


def _commands() -> tuple[str, ...]:
    return ("qopt reproduce cifar --data-dir DIR   (DIR holds cifar-10-batches-py; a GPU is "
            "needed in practice: 200 epochs per stage)",
            *(f"qopt study {p} --data-dir DIR   (the preset alone, from scratch)"
              for p in PRESETS))


def run(ctx: Context, prot: dict) -> ClaimResult:
    if prot["data_dir"] is None:
        v = Verdict(NOT_RUN, "needs the CIFAR-10 data", "no --data-dir given")
        return ClaimResult(v, ("Not run here: no CIFAR-10 data directory was given (nothing "
                               "is downloaded). To run it:",) + tuple(f"`{c}`" for c in
                                                                         _commands()),
                           deviations=("Not run.",))
    table, parts, comps, failed = [], [], [], []
    for preset in PRESETS:
        exp = experiment(ctx, preset)
        runs = run_experiment(exp, ctx)
        failed += [f"{preset}/{k}: {v}" for k, v in runs.failed.items()]
        fl = {s: final_acc(r.result) for s, r in runs.floats.items()}
        arms = {"float": fl}
        for a in exp.arms:
            arms[a.keys["method"] + " " + str(a.keys["weights"])] = {
                s: final_acc(r.result) for s, r in runs.select(**a.keys).items()}
        for name, vals in arms.items():
            head = HEADLINE.get((preset, name.split(" ")[0]))
            ci = t_interval(list(vals.values())).fmt(100, 2, ACCURACY) if vals else "-"
            table.append((preset, name, len(vals), ci,
                          f"{100 * head:.2f}" if head else "not seen"))
        if preset == "cifar10-vgg11":
            br = arms.get("binaryrelax binary", {})
            bc = arms.get("binaryconnect binary", {})
            if br:
                iv = t_interval([x - HEADLINE[(preset, "binaryrelax")] for x in br.values()])
                parts.append(Part("VGG-11 BR binary = 89.21%", "|BR − 89.21| < 1 point",
                                  smoke(equivalent(iv, 0.01, "BR − 89.21%", 100), ctx.quick)))
            if br and bc:
                c = Comparison("VGG-11, binary", "BR", "BC", br, bc, scale=100)
                comps.append(c.to_dict(smoke=ctx.quick))
                parts.append(Part("VGG-11 BR > BC", "BR > BC, paired by seed",
                                  smoke(c.verdict(), ctx.quick)))
    verdict = combine([p.verdict for p in parts], "parts") if parts else Verdict(
        NOT_RUN, "needs finished runs", "no run finished")
    return ClaimResult(
        verdict=verdict,
        protocol_lines=(f"Presets {', '.join(PRESETS)} with --data-dir {prot['data_dir']}, "
                        "staged: float model per seed, quantized arms from it.",),
        deviations=(("--quick: 1 epoch per stage.",) if ctx.quick else ())
        + (("Failed runs: " + "; ".join(failed),) if failed else ()),
        parts=tuple(parts),
        tables=(Table("Final test accuracy (%), mean [95% interval over seeds]",
                      ("preset", "arm", "seeds", "ours", "paper"), tuple(table)),),
        comparisons=tuple(comps),
    )


SPEC = ClaimSpec(
    name="cifar",
    title="CIFAR-10 headline setups (VGG-11 BinaryRelax, ResNet-20 BCGD, ResNet-20 UniQ)",
    statement="VGG-11 with binary weights trained by BinaryRelax reaches 89.21% on CIFAR-10 "
              "(float 92.13%); BCGD and UniQ CIFAR setups as released.",
    paper_numbers="BinaryRelax released notebook: VGG-11 binary 89.21%, float 92.13%; BCGD and "
                  "UniQ CIFAR tables not seen",
    source="penhunt/binaryrelax VGG11-Cifar10.ipynb; penhunt/full-quantization-DNN; "
           "phuocphn/uniq",
    kind="external",
    protocol=protocol,
    run=run,
)
