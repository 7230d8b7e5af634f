"""The LUT-network model zoo. Each family lives in one module of this package and registers itself;
adding a family = adding one file (modules whose names start with '_' are infrastructure)."""

import importlib
import pkgutil

from lutsearch.models._base import (
    MAX_ADDRESS_BITS,
    LayerHooks,
    LUTLayer,
    LUTNetwork,
    NeuronFunction,
    enumerate_codes,
    random_indices,
)
from lutsearch.models._model import LUTModel
from lutsearch.models._registry import (
    COMMON_KNOBS,
    FamilySpec,
    Knob,
    LayerPlan,
    build_model,
    check_table_size,
    family_names,
    family_plan,
    get_family,
    plan_layers,
    register_family,
    resolve_params,
)

for _mod in sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")):
    importlib.import_module(f"{__name__}.{_mod}")

__all__ = [
    "MAX_ADDRESS_BITS", "COMMON_KNOBS", "FamilySpec", "Knob", "LayerHooks", "LayerPlan", "LUTLayer", "LUTModel", "LUTNetwork",
    "NeuronFunction",
    "build_model", "check_table_size", "enumerate_codes", "family_names", "family_plan", "get_family",
    "plan_layers", "random_indices", "register_family", "resolve_params",
]
