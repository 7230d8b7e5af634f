"""Calibration corpora and ground truth for the hardware cost models (issue #13)."""

from lutsearch.calibrate._designs import DESIGN_GRID, Design, DesignSpec, build_designs, design_truth
from lutsearch.calibrate._grid import CORPUS_VERSION, DATASET_BUDGETS, DatasetBudget

__all__ = [
    "CORPUS_VERSION",
    "DATASET_BUDGETS",
    "DESIGN_GRID",
    "DatasetBudget",
    "Design",
    "DesignSpec",
    "build_designs",
    "design_truth",
]
