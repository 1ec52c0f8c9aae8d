"""Display names, panel orders and the one colour palette of the figures."""

from __future__ import annotations

import math

import pytest

from figures.labels import (
    METHOD_ORDER,
    canonical_method,
    method_label,
    method_sort_key,
    set_bits,
    set_label,
    set_sort_key,
    ste_label,
)
from figures.style import METHOD_COLORS, STE_COLORS, color_for


@pytest.mark.parametrize("spec, label", [
    ("binary", "binary"), ("ternary", "ternary"), ("uniform:2", "ternary"),
    ("symmetric:1", "binary"), ("symmetric:2", "symmetric:2"), ("uniform:4", "uniform:4"),
    ("symmetric:4@0.5", "symmetric:4, α = 0.5"), ("uniq:4", "UniQ 4-bit"),
    ("grid:-1,0,2", "grid (3 levels)"), (None, "float"), ("none", "float"),
    ("something:else", "something:else"),
])
def test_set_labels(spec, label):
    assert set_label(spec) == label


def test_sets_sort_by_bit_width():
    specs = ["symmetric:4", "none", "uniform:4", "ternary", "symmetric:2", "uniform:3", "binary",
             "symmetric:3"]
    assert sorted(specs, key=set_sort_key) == [
        "binary", "ternary", "symmetric:2", "uniform:3", "symmetric:3", "uniform:4",
        "symmetric:4", "none"]
    # effective bits = log2(number of levels): Uniform(b) has 2^b - 1 levels, Symmetric(b) 2^b
    assert set_bits("uniform:3") == pytest.approx(math.log2(7))
    assert set_bits("ternary") == pytest.approx(math.log2(3))
    assert set_bits("grid:1,2,3,4") == 2.0
    assert set_bits(None) == math.inf


def test_method_names_aliases_and_order():
    assert [method_label(m) for m in METHOD_ORDER] == [
        "float", "BinaryConnect", "BinaryRelax", "BCGD", "UniQ", "PARQ", "ProxQuant"]
    assert method_label("bc") == "BinaryConnect" and method_label("BR") == "BinaryRelax"
    assert method_label("ProxBinaryRelax") == "ProxBinaryRelax (torchao)"
    assert canonical_method("ProxBinaryRelax") == "binaryrelax"
    assert canonical_method("ProxHardQuant") == "binaryconnect"
    assert method_label("newmethod") == "newmethod"
    assert sorted(["proxquant", "bcgd", "newmethod", "float", "br"], key=method_sort_key) == [
        "float", "br", "bcgd", "proxquant", "newmethod"]
    assert ste_label("clipped_relu") == "clipped ReLU"


def test_one_palette_every_method_and_ste_distinct():
    assert set(METHOD_COLORS) == set(METHOD_ORDER)  # parq and proxquant included
    colours = [c.lower() for c in [*METHOD_COLORS.values(), *STE_COLORS.values()]]
    assert len(set(colours)) == len(colours)
    # aliases and torchao's proximal maps take the colour of the method they implement
    assert color_for("bc") == color_for("binaryconnect") == METHOD_COLORS["binaryconnect"]
    assert color_for("ProxPARQ") == METHOD_COLORS["parq"]
    assert color_for("relu") == STE_COLORS["relu"]
    # anything else never takes a method's or an STE's colour
    others = {color_for(f"other{i}", i).lower() for i in range(8)}
    assert not others & set(colours)
