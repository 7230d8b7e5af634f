"""Objectives and constraint metrics, registered by name with pluggable backends."""

from lutsearch._registry import discover
from lutsearch.objectives._registry import (
    OBJECTIVES,
    EvalContext,
    ObjectiveSpec,
    evaluate_objective,
    get_objective,
    load_plugin,
    objective_names,
    register_objective,
)

discover(__name__)

__all__ = [
    "OBJECTIVES",
    "EvalContext",
    "ObjectiveSpec",
    "evaluate_objective",
    "get_objective",
    "load_plugin",
    "objective_names",
    "register_objective",
]
