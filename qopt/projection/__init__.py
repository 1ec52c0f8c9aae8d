"""Exact projection onto quantization sets (temporary index; documented in the next commit)."""

from qopt.projection.codes import COMPARE_MAX, from_rows, nearest_codes, to_rows
from qopt.projection.project import (
    TorchProjection,
    check_qset,
    project,
    project_rows,
    quantize_,
)
from qopt.projection.project import check_axis as _check_axis
from qopt.projection.tables import _tables, compute_dtype, tables

__all__ = ["TorchProjection", "project", "project_rows", "nearest_codes", "quantize_",
           "compute_dtype", "to_rows", "from_rows", "tables", "check_qset", "COMPARE_MAX",
           "_check_axis", "_tables"]
