"""The LUT-network model zoo. Each family lives in one module of this package and registers itself;
adding a family = adding one file (modules whose names start with '_' are infrastructure)."""

from lutsearch._registry import discover
from lutsearch.models._base import (
    MAX_ADDRESS_BITS,
    LayerHooks,
    LUTLayer,
    LUTNetwork,
    NeuronFunction,
    enumerate_codes,
    random_indices,
)
from lutsearch.models._checkpoint import restore as restore_training_state
from lutsearch.models._checkpoint import snapshot as training_snapshot
from lutsearch.models._connectivity import (
    CONNECTIVITY,
    ConnectivityScheme,
    connectivity_names,
    register_connectivity,
)
from lutsearch.models._model import LUTModel
from lutsearch.models._registry import (
    COMMON_KNOBS,
    FAMILIES,
    FamilySpec,
    Knob,
    LayerPlan,
    build_model,
    family_names,
    family_plan,
    get_family,
    plan_layers,
    register_family,
    resolve_params,
)

discover(__name__)

__all__ = [
    "COMMON_KNOBS",
    "CONNECTIVITY",
    "FAMILIES",
    "MAX_ADDRESS_BITS",
    "ConnectivityScheme",
    "FamilySpec",
    "Knob",
    "LUTLayer",
    "LUTModel",
    "LUTNetwork",
    "LayerHooks",
    "LayerPlan",
    "NeuronFunction",
    "build_model",
    "connectivity_names",
    "enumerate_codes",
    "family_names",
    "family_plan",
    "get_family",
    "plan_layers",
    "random_indices",
    "register_connectivity",
    "register_family",
    "resolve_params",
    "restore_training_state",
    "training_snapshot",
]
