"""Family registry: a family is one module that calls ``register_family`` with its builder and knobs.

Every family shares the *common knobs* (layer widths, fan-ins, bitwidths); a family adds its own
(e.g. ``degree`` for PolyLUT). ``build_model`` fills defaults, rejects unknown knobs with the list of
allowed ones, and returns a ready ``LUTNetwork``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch

from lutsearch._registry import Registry
from lutsearch.models._base import LUTNetwork
from lutsearch.models._connectivity import apply_connectivity, connectivity_names, scheme_knobs
from lutsearch.models._group_prune import apply_group_prune
from lutsearch.models._knobs import Knob

__all__ = [
    "COMMON_KNOBS",
    "FAMILIES",
    "FamilySpec",
    "Knob",
    "LayerPlan",
    "build_model",
    "check_fan_in",
    "family_names",
    "get_family",
    "layer_fan_in",
    "plan_layers",
    "register_family",
    "resolve_params",
]


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
        """The common knobs, the family's own, ``connectivity`` and every connectivity scheme's knobs."""
        return {**COMMON_KNOBS, **self.knobs, **connectivity_knobs()}


def connectivity_knobs() -> dict[str, Knob]:
    """``connectivity`` (its choices: the registered schemes) and the knobs the schemes contribute."""
    return {
        "connectivity": Knob("str", "random", "how neurons pick their F inputs", choices=tuple(connectivity_names())),
        **{key: knob for key, (_, knob) in scheme_knobs().items()},
    }


FAMILIES: Registry[FamilySpec] = Registry(
    "model family", short="family", package="lutsearch.models", group="lutsearch.families"
)


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
    scheme = params.get("connectivity", "random")
    others = {key for key, (owner, _) in scheme_knobs().items() if owner != scheme}
    resolved = {}
    for name, knob in knobs.items():
        if name in others:
            continue  # a knob of a scheme this design does not use (a space may search the scheme)
        if name in params:
            value = params[name]
            if knob.choices is not None and value not in knob.choices:
                raise ValueError(f"family {family!r} knob {name!r}={value!r}; allowed: {list(knob.choices)}")
            if (problem := knob.out_of_bounds(value)) is not None:
                raise ValueError(f"family {family!r} knob {name!r}: {problem}")
            resolved[name] = value
        elif knob.required:
            raise ValueError(f"family {family!r} needs knob {name!r}")
        else:
            resolved[name] = knob.default
    resolved["widths"] = [int(w) for w in resolved["widths"]]
    return resolved


def layer_fan_in(params: dict[str, Any], i: int, n_layers: int, n_in: int, who: str = "") -> int:
    """The fan-in of layer ``i`` of ``n_layers`` from the common knobs: ``input_fan_in`` for the first
    layer, ``output_fan_in`` for the last, ``fan_in`` between; an error (naming ``who``, e.g. the
    family, and the layer) when it exceeds the layer's ``n_in`` inputs, never a silent clip."""
    knob = "input_fan_in" if i == 0 else "output_fan_in" if i == n_layers - 1 else "fan_in"
    return check_fan_in(int(params[knob]), n_in, i, who)


def check_fan_in(fan_in: int, n_in: int, i: int, who: str = "") -> int:
    """``fan_in`` if layer ``i`` with ``n_in`` inputs can have it, else the one error every plan raises."""
    if fan_in > n_in:
        raise ValueError(f"{who + ': ' if who else ''}layer {i}: fan-in {fan_in} exceeds its {n_in} inputs")
    return fan_in


def plan_layers(params: dict[str, Any], n_inputs: int, n_classes: int) -> list[LayerPlan]:
    """The common layer plan: widths + output layer, fan-ins clipped to nothing (an error instead)."""
    widths = list(params["widths"]) + [n_classes]
    plans, n_in, in_bits, in_signed = [], n_inputs, params["input_bits"], False
    for i, n_out in enumerate(widths):
        last = i == len(widths) - 1
        fan_in = layer_fan_in(params, i, len(widths), n_in)
        out_bits = params["output_bits"] if last else params["hidden_bits"]
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
    model = apply_group_prune(model, resolved)  # outermost: after the connectivity scheme's wrappers
    model.config = {
        "family": family,
        "params": resolved,
        "n_inputs": n_inputs,
        "n_classes": n_classes,
        "seed": int(seed),
    }
    return model
