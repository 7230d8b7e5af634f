"""Family registry: a family is one module that calls ``register_family`` with its builder and knobs.

Every family shares the *common knobs* (layer widths, fan-ins, bitwidths); a family adds its own
(e.g. ``degree`` for PolyLUT). ``build_model`` fills defaults, rejects unknown knobs with the list of
allowed ones, and returns a ready ``LUTNetwork``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import torch

from lutsearch._registry import Registry
from lutsearch.models._base import LUTNetwork
from lutsearch.models._connectivity import SCHEMES, apply_connectivity

__all__ = [
    "Knob",
    "FamilySpec",
    "FAMILIES",
    "LayerPlan",
    "COMMON_KNOBS",
    "register_family",
    "get_family",
    "family_names",
    "build_model",
    "resolve_params",
    "plan_layers",
]


@dataclasses.dataclass(frozen=True)
class Knob:
    """One searchable parameter of a family. ``kind``: int, float, bool, str, int_list."""

    kind: str
    default: Any = None
    doc: str = ""
    choices: tuple[Any, ...] | None = None
    required: bool = False

    def problem(self, value: Any) -> str | None:
        """Why ``value`` cannot be this knob's value (a short phrase), or None when it can."""
        if self.choices is not None:
            return None if value in self.choices else (
                f"{value!r} is not allowed; allowed: {', '.join(map(str, self.choices))}")
        if value is None and self.default is None:
            return None
        ok = {
            "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
            "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
            "bool": lambda v: isinstance(v, bool),
            "str": lambda v: isinstance(v, str),
            "int_list": lambda v: isinstance(v, (list, tuple)) and all(
                isinstance(i, int) and not isinstance(i, bool) for i in v),
            "dict": lambda v: isinstance(v, (dict, str)),  # a mapping, or its JSON text
        }[self.kind]
        names = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string",
                 "int_list": "a list of integers", "dict": "a mapping"}
        return None if ok(value) else f"{value!r} is not {names[self.kind]}"


@dataclasses.dataclass(frozen=True)
class LayerPlan:
    """Shape of one L-LUT layer, known before training (for pruning and analytic costs)."""

    n_in: int
    n_out: int
    fan_in: int
    in_bits: int
    in_signed: bool
    out_bits: int
    out_signed: bool

    @property
    def address_bits(self) -> int:
        return self.fan_in * self.in_bits


COMMON_KNOBS: dict[str, Knob] = {
    "widths": Knob("int_list", required=True, doc="hidden layer widths (the output layer is added)"),
    "input_bits": Knob("int", 2, "bits per input feature"),
    "hidden_bits": Knob("int", 2, "bits per hidden activation"),
    "output_bits": Knob("int", 2, "bits per output (signed logits)"),
    "input_fan_in": Knob("int", 3, "fan-in of the first layer's neurons"),
    "fan_in": Knob("int", 3, "fan-in of hidden layers' neurons"),
    "output_fan_in": Knob("int", 3, "fan-in of the output layer's neurons"),
    "batch_norm": Knob("bool", True, "batch-norm before each quantizer"),
    "connectivity": Knob("str", "random", "how neurons pick their F inputs", choices=SCHEMES),
    "sparse_T": Knob("float", 0.5, "SparseLUT transition epoch (>= 1) or fraction of training (< 1)"),
    "sparse_penalty": Knob("float", 1e-4, "SparseLUT L1 penalty on connection magnitudes before T"),
    "sparse_noise": Knob("float", 0.0, "SparseLUT gradient-noise scale on magnitudes before T"),
    "sparse_regrowth": Knob("str", "random", "SparseLUT regrowth of dropped connections",
                            choices=("random", "gradient")),
    "sparse_candidates": Knob("int", 4, "SparseLUT candidate inputs per neuron input slot before T"),
}

Builder = Callable[[dict[str, Any], int, int, torch.Generator], LUTNetwork]


@dataclasses.dataclass(frozen=True)
class FamilySpec:
    name: str
    build: Builder
    knobs: dict[str, Knob]
    doc: str = ""
    plan: Callable[[dict[str, Any], int, int], list[LayerPlan]] | None = None

    @property
    def all_knobs(self) -> dict[str, Knob]:
        return {**COMMON_KNOBS, **self.knobs}


FAMILIES: Registry[FamilySpec] = Registry("model family", short="family", package="lutsearch.models",
                                         group="lutsearch.families")


def register_family(spec: FamilySpec) -> FamilySpec:
    return FAMILIES.register(spec.name, spec)


def family_names() -> list[str]:
    return FAMILIES.names()


def get_family(name: str) -> FamilySpec:
    return FAMILIES.get(name)


def resolve_params(family: str, params: dict[str, Any]) -> dict[str, Any]:
    """Defaults filled in, unknown knobs rejected (ValueError naming the allowed ones)."""
    spec = get_family(family)
    knobs = spec.all_knobs
    unknown = sorted(set(params) - set(knobs))
    if unknown:
        raise ValueError(f"family {family!r} has no knob {unknown[0]!r}; allowed: {', '.join(sorted(knobs))}")
    resolved = {}
    for name, knob in knobs.items():
        if name in params:
            value = params[name]
            if knob.choices is not None and value not in knob.choices:
                raise ValueError(f"family {family!r} knob {name!r}={value!r}; allowed: {list(knob.choices)}")
            resolved[name] = value
        elif knob.required:
            raise ValueError(f"family {family!r} needs knob {name!r}")
        else:
            resolved[name] = knob.default
    resolved["widths"] = [int(w) for w in resolved["widths"]]
    return resolved


def plan_layers(params: dict[str, Any], n_inputs: int, n_classes: int) -> list[LayerPlan]:
    """The common layer plan: widths + output layer, fan-ins clipped to nothing (an error instead)."""
    widths = list(params["widths"]) + [n_classes]
    plans, n_in, in_bits, in_signed = [], n_inputs, params["input_bits"], False
    for i, n_out in enumerate(widths):
        first, last = i == 0, i == len(widths) - 1
        fan_in = params["input_fan_in"] if first else params["output_fan_in"] if last else params["fan_in"]
        out_bits = params["output_bits"] if last else params["hidden_bits"]
        if fan_in > n_in:
            raise ValueError(f"layer {i}: fan-in {fan_in} exceeds its {n_in} inputs")
        plans.append(LayerPlan(n_in, n_out, fan_in, in_bits, in_signed, out_bits, last))
        n_in, in_bits, in_signed = n_out, out_bits, last
    return plans


def family_plan(family: str, params: dict[str, Any], n_inputs: int, n_classes: int) -> list[LayerPlan]:
    spec = get_family(family)
    return (spec.plan or plan_layers)(params, n_inputs, n_classes)


def build_model(family: str, params: dict[str, Any], n_inputs: int, n_classes: int, seed: int) -> LUTNetwork:
    spec = get_family(family)
    resolved = resolve_params(family, params)
    generator = torch.Generator().manual_seed(int(seed))
    torch.manual_seed(int(seed))
    model = spec.build(resolved, n_inputs, n_classes, generator)
    model.family = family
    model = apply_connectivity(model, resolved, generator)
    model.config = {"family": family, "params": resolved, "n_inputs": n_inputs, "n_classes": n_classes,
                    "seed": int(seed)}
    return model
