'''Built-in studies. ``qopt study`` with no argument runs ``quick``; ``qopt study NAME`` runs a
preset, ``qopt study --show NAME`` prints its TOML (a starting point for your own file).

``quick`` — MNIST-1D (generated locally), a 3-block 1-D CNN with batch norm; float vs
BinaryConnect vs BinaryRelax vs BCGD vs PARQ vs ProxQuant with binary, ternary and 2-bit
weights, 3 seeds (48 runs),
one scale per tensor, the classifier kept float (as in the released codes), SGD lr 0.1,
momentum 0.9, weight decay 1e-4 (the papers' values), cosine schedule, 20 epochs; every
quantized run re-estimates its BatchNorm statistics at the final quantized weights (100
training batches, the default) and the table reports the final, raw-BN, validation, test at
the validation-best epoch and last-5-epoch
accuracies with 95% intervals over the seeds. The 2-bit set is ``symmetric:2`` = UniQ's
4-level grid α{±1/2, ±3/2}: ``uniform:2`` would be {-1, 0, 1}·α, the ternary set again.
BinaryRelax runs with its defaults, tied to the run: λ grows from 1 to 360 over the first 15 of
the 20 epochs, then Phase II (exact quantization) — the released schedule (×1.04 per epoch,
Phase II at epoch 150 of 200) in proportion. BCGD uses the released ρ = 1e-5 (constant).
Cost: 126 s wall, 241 CPU-seconds (measured with ``/usr/bin/time``: 2 workers × 1 thread on a
nearly idle 2-core Intel Xeon, CPU torch 2.13; about 20 minutes when the cores are shared with
other jobs).

``groups`` — the quantizers deployed today on the same MNIST-1D task (issue 21 item 8): the
five methods with one scale per block of 16 consecutive weights of each output channel
(``axis = 0``, ``group_size = 16``) at ``int:4`` ({-8..7}·α), ``uint:2`` (affine, integer zero
point per block) and ``nf4`` (QLoRA's levels, exact L2 scale); 1-D CNN with 16 channels and 2
blocks, 3 epochs, one seed (15 runs). A smoke-sized cell showing that every method trains at
group-wise and affine sets and that ``qopt verify run`` accepts the runs, not a comparison.
Measured: 2 min 4 s wall on the shared 2-core Xeon (load ~13, 2 workers × 1 thread); final test
accuracies 62.6-64.4% (int:4, nf4) and 54.2-58.7% (uint:2) after 3 epochs, one seed; ``qopt
verify run`` exits 0 on all 15 runs (affine runs: ``forward_point`` skipped, stated).

CIFAR presets (need ``--data-dir`` with the CIFAR pickles, and a GPU in practice) follow the
released schedules (penhunt/binaryrelax ``VGG11-Cifar10.ipynb``, penhunt/full-quantization-DNN
``BCGD_cifar/config.py``, phuocphn/uniq ``main.py``): ``cifar10-vgg11`` (BinaryRelax /
BinaryConnect vs float, binary weights, SGD 0.1 / 0.9 / 1e-4, batch 128, 200 epochs, MultiStep
[80, 140] ×0.1, λ ×1.04 per epoch from λ = 1.04 in the first epoch, Phase II from epoch
150: ``BinaryRelax(lam0=1.04, growth=1.04, phase2_at=150)``), ``cifar10-resnet20-bcgd``
(binary weights + 4-bit quantized ReLUs, SGD momentum 0.95, ρ = 1e-5, same schedule) and
``cifar10-resnet20-uniq`` (UniQ 2/4-bit, batch 256, 120 epochs, cosine). As in the released
codes, the quantized runs of the first two start from the trained float run of the same seed
(``[protocol] init_from = "float"``; the float parent of the BCGD preset has float ReLUs).
'''

from __future__ import annotations

QUICK = """
[study]
name = "quick"
description = "MNIST-1D: float vs BC, BinaryRelax, BCGD, PARQ, ProxQuant; binary/ternary/2-bit"
workers = 2
threads_per_worker = 1
last_k = 5

[base]
dataset = "mnist1d"
model = "cnn1d"
model_args = { channels = 32, depth = 3 }
epochs = 20
batch_size = 100
optimizer = "sgd"
lr = 0.1
momentum = 0.9
weight_decay = 1e-4
schedule = "cosine"
keep_float = ["last"]
diag_every = 40
log_every = 40

[grid]
method = ["float", "binaryconnect", "binaryrelax", "bcgd", "parq", "proxquant"]
weights = ["binary", "ternary", "symmetric:2"]
seed = [0, 1, 2]

[methods.bcgd]
method_args = { rho = 1e-5, rho_growth = 1.0, rho_max = 0.01 }
"""

GROUPS = """
[study]
name = "groups"
description = "MNIST-1D: BC, BinaryRelax, BCGD, PARQ, ProxQuant at group-wise int:4, uint:2, nf4"
workers = 2
threads_per_worker = 1
last_k = 2

[base]
dataset = "mnist1d"
model = "cnn1d"
model_args = { channels = 16, depth = 2 }
epochs = 3
batch_size = 100
optimizer = "sgd"
lr = 0.1
momentum = 0.9
weight_decay = 1e-4
schedule = "cosine"
keep_float = ["last"]
axis = 0
group_size = 16
diag_every = 40
log_every = 40

[grid]
method = ["binaryconnect", "binaryrelax", "bcgd", "parq", "proxquant"]
weights = ["int:4", "uint:2", "nf4"]
seed = [0]

[methods.bcgd]
method_args = { rho = 1e-5, rho_growth = 1.0, rho_max = 0.01 }
"""

CIFAR10_VGG11 = """
[study]
name = "cifar10-vgg11"
description = "BinaryRelax released setup: VGG-11 (BN) CIFAR-10, binary weights"
workers = 1

[base]
dataset = "cifar10"
data_dir = "data/cifar"
model = "vgg11"
epochs = 200
batch_size = 128
lr = 0.1
momentum = 0.9
weight_decay = 1e-4
schedule = "multistep"
milestones = [80, 140]
gamma = 0.1
keep_float = ["last"]
diag_every = 390

[grid]
method = ["float", "binaryconnect", "binaryrelax"]
weights = ["binary"]
seed = [0]

[methods.binaryrelax]
method_args = { lam0 = 1.04, growth = 1.04, phase2_at = 150 }

[protocol]
init_from = "float"
"""

CIFAR10_RESNET20_BCGD = """
[study]
name = "cifar10-resnet20-bcgd"
description = "BCGD released setup: ResNet-20 CIFAR-10, binary weights, 4-bit ReLUs"
workers = 1

[base]
dataset = "cifar10"
data_dir = "data/cifar"
model = "resnet20"
epochs = 200
batch_size = 128
lr = 0.1
momentum = 0.95
weight_decay = 1e-4
schedule = "multistep"
milestones = [80, 140]
gamma = 0.1
keep_float = ["last"]
act_bits = 4
act_forward = "ceil"
ste = "clipped_relu"
alpha_grad = "mean"
learn_alpha = true
diag_every = 390

[grid]
method = ["float", "binaryconnect", "bcgd"]
weights = ["binary"]
seed = [0]

[methods.float]
act_bits = "none"

[methods.bcgd]
method_args = { rho = 1e-5, rho_growth = 1.0, rho_max = 0.01 }

[protocol]
init_from = "float"
"""

CIFAR10_RESNET20_UNIQ = """
[study]
name = "cifar10-resnet20-uniq"
description = "UniQ released schedule on ResNet-20 CIFAR-10: 2- and 4-bit weights"
workers = 1

[base]
dataset = "cifar10"
data_dir = "data/cifar"
model = "resnet20"
method = "uniq"
epochs = 120
batch_size = 256
lr = 0.1
momentum = 0.9
weight_decay = 1e-4
no_decay_steps = true
schedule = "cosine"
keep_float = ["first", "last"]

[grid]
weights = ["uniq:2", "uniq:4"]
seed = [0]
"""

PRESETS: dict[str, str] = {
    "quick": QUICK,
    "groups": GROUPS,
    "cifar10-vgg11": CIFAR10_VGG11,
    "cifar10-resnet20-bcgd": CIFAR10_RESNET20_BCGD,
    "cifar10-resnet20-uniq": CIFAR10_RESNET20_UNIQ,
}
