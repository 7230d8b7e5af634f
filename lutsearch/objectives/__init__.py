"""Objectives and constraint metrics, registered by name with pluggable backends."""

import importlib
import pkgutil

from lutsearch.objectives._registry import (
    EvalContext,
    ObjectiveSpec,
    evaluate_objective,
    get_objective,
    load_plugin,
    objective_names,
    register_objective,
)

for _mod in sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")):
    importlib.import_module(f"{__name__}.{_mod}")

__all__ = [
    "EvalContext", "ObjectiveSpec", "evaluate_objective", "get_objective", "load_plugin",
    "objective_names", "register_objective",
]
