"""Constant tables printed in released code, stored once as data with their source.

These are inputs (what the released implementations use), not results:
:mod:`theory.gaussian_steps` re-derives the optima they approximate and its tests measure the
differences; :mod:`qopt.nn.constants` reads them from here.
"""

from __future__ import annotations

__all__ = ["BCGD_BIT_ALPHA", "TABLE_SOURCES", "UNIQ_C_A", "UNIQ_C_W"]

#: UniQ weight step c_w[b] (× std(W)), b <= 9.
UNIQ_C_W: dict[int, float] = {
    1: 1.595769121605729, 2: 0.9956866859435065, 3: 0.5860194414434872,
    4: 0.33520061219993685, 5: 0.18813879027991698, 6: 0.10406300944201481,
    7: 0.05686767238235839, 8: 0.03076238758025524, 9: 0.016498958773102656,
}
#: UniQ activation step c_a[b] (× pre-ReLU std), b <= 9.
UNIQ_C_A: dict[int, float] = {
    1: 1.22399153, 2: 0.65076985, 3: 0.35340955, 4: 0.19324868, 5: 0.10548752,
    6: 0.0572659, 7: 0.03087133, 8: 0.01652923, 9: 0.00879047,
}
#: BCGD's initial α of the quantized ReLU (``bit_alpha``), b in {1, 2, 4}.
BCGD_BIT_ALPHA: dict[int, float] = {1: 1.2221, 2: 0.6511, 4: 0.1946}

TABLE_SOURCES: dict[str, str] = {
    "UNIQ_C_W": "phuocphn/uniq@131ea25 quantizer/uniq.py UniQQuantizer.delta_normal",
    "UNIQ_C_A": "phuocphn/uniq@131ea25 quantizer/uniq.py UniQQuantizer.delta_positive_normal",
    "BCGD_BIT_ALPHA": "penhunt/full-quantization-DNN nets/quant_uni_type.py bit_alpha",
}
